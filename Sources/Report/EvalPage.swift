import Basics
import Foundation

/// `ign eval --html`: the eval table as a page, with the sheets the caller made beside it.
public enum EvalPage {
    /// One picture of the page: its element id, heading, and file relative to the page.
    public struct Sheet: Sendable {
        public let id: String, heading: String, file: String
        public init(id: String, heading: String, file: String) { self.id = id; self.heading = heading; self.file = file }
    }

    /// Writes the page for the model `name`'s `table` to `url`.
    public static func build(name: String, table: String, sheets: [Sheet], to url: URL) throws {
        var body = "<h1>ign eval: \(HTML.escape(name))</h1><pre id=\"table\">\(HTML.escape(table))</pre>"
        for sheet in sheets {
            body += "<h2>\(HTML.escape(sheet.heading))</h2><p><img id=\"\(HTML.escape(sheet.id))\" src=\"\(HTML.link(sheet.file))\" class=\"sheet\" alt=\"\(HTML.escape(sheet.heading))\"></p>"
        }
        try AtomicFile.write(Data(RunPage.document(title: "ign eval — \(name)", body: body).utf8), to: url)
    }
}
