import CVips

extension PlanarImage {
    /// `text` drawn by libvips (Pango) in `font`, a Pango description such as "Breip 96", loaded
    /// from `fontFile` when given: one channel, ink +1 on −1, cropped to the ink's extent.
    /// Pango falls back to another font when the family is not found, so give the family the
    /// file declares (`fc-scan --format '%{family}' FILE`).
    public static func text(_ text: String, font: String, fontFile: String? = nil) throws -> PlanarImage {
        try Vips.ensureStarted()
        let drawn = try VImage.make(.processingFailed, path: fontFile, "text") { out in
            ign_vips_text(out, text, font, fontFile)
        }
        return try fromVips(drawn, path: fontFile)
    }
}
