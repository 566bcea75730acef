import Foundation

/// Escaping for the pages ign writes: text and attribute values, and relative links.
enum HTML {
    /// `text` safe inside an element or a double-quoted attribute.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// A relative path as a link target: each component percent-encoded (spaces, `#`, `?`, `%`,
    /// quotes and non-ASCII included), then escaped for an attribute.
    static func link(_ relativePath: String) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        let encoded = relativePath.split(separator: "/", omittingEmptySubsequences: false).map {
            String($0).addingPercentEncoding(withAllowedCharacters: allowed) ?? String($0)
        }
        return escape(encoded.joined(separator: "/"))
    }

    /// A figure for people: 4 significant digits, or "–" when absent.
    static func figure(_ value: Double?) -> String {
        guard let value else { return "–" }
        guard value.isFinite else { return value > 0 ? "∞" : "−∞" }
        return String(format: "%.4g", value)
    }
}
