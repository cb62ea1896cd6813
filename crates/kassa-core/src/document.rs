//! Identity documents as `profile/verify` receives them: base64 text in a JSON string, whose type
//! is decided by its first bytes (magic numbers) and never by a name, a data-URL label or a
//! declared content type — those are the client's claims, the bytes are the fact.
//!
//! kassa does not parse the documents beyond their signature: a reviewer opens them in a viewer,
//! and running image or PDF parsers on untrusted input inside the payment server would add risk
//! without deciding anything the reviewer does not decide anyway.

use std::borrow::Cow;
use std::fmt;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

/// Largest decoded document: 10 MiB.
pub const MAX_DOCUMENT_BYTES: usize = 10 * 1024 * 1024;

/// Longest base64 text (without whitespace) that can decode to at most [`MAX_DOCUMENT_BYTES`];
/// anything longer is refused before decoding.
pub const MAX_DOCUMENT_BASE64_LEN: usize = MAX_DOCUMENT_BYTES.div_ceil(3) * 4;

/// The document types the seed allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentType {
    Jpg,
    Png,
    Pdf,
}

impl DocumentType {
    pub const ALL: [DocumentType; 3] = [DocumentType::Jpg, DocumentType::Png, DocumentType::Pdf];

    /// The name stored and shown (`jpg`, `png`, `pdf`); also the file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentType::Jpg => "jpg",
            DocumentType::Png => "png",
            DocumentType::Pdf => "pdf",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            DocumentType::Jpg => "image/jpeg",
            DocumentType::Png => "image/png",
            DocumentType::Pdf => "application/pdf",
        }
    }

    /// The type the bytes say they are: JPEG `FF D8 FF`, PNG `89 50 4E 47 0D 0A 1A 0A`, PDF `%PDF-`.
    pub fn sniff(bytes: &[u8]) -> Option<DocumentType> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(DocumentType::Jpg)
        } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
            Some(DocumentType::Png)
        } else if bytes.starts_with(b"%PDF-") {
            Some(DocumentType::Pdf)
        } else {
            None
        }
    }
}

impl fmt::Display for DocumentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DocumentType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|t| t.as_str() == text).ok_or_else(|| format!("{text:?} is not jpg, png or pdf"))
    }
}

/// Which of the two documents of a verification (`document1`, `document2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocumentSlot {
    One,
    Two,
}

impl DocumentSlot {
    pub const ALL: [DocumentSlot; 2] = [DocumentSlot::One, DocumentSlot::Two];

    pub fn number(self) -> u8 {
        match self {
            DocumentSlot::One => 1,
            DocumentSlot::Two => 2,
        }
    }

    pub fn from_number(n: i64) -> Option<Self> {
        match n {
            1 => Some(DocumentSlot::One),
            2 => Some(DocumentSlot::Two),
            _ => None,
        }
    }

    /// The JSON field name.
    pub fn field(self) -> &'static str {
        match self {
            DocumentSlot::One => "document1",
            DocumentSlot::Two => "document2",
        }
    }
}

/// A decoded document whose type was recognized. Its `Debug` shows the type and size only, so a
/// stray `{:?}` can never put document bytes into a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Document {
    pub kind: DocumentType,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document").field("kind", &self.kind).field("len", &self.bytes.len()).finish()
    }
}

/// Why a document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentProblem {
    NotBase64,
    TooLarge,
    UnsupportedType,
}

impl DocumentProblem {
    /// The message for `slot`; the type message is the seed's, word for word.
    pub fn message(self, slot: DocumentSlot) -> String {
        let field = slot.field();
        match self {
            DocumentProblem::NotBase64 => format!("{field} is not valid base64"),
            DocumentProblem::TooLarge => format!("{field} is larger than 10 MiB ({MAX_DOCUMENT_BYTES} bytes)"),
            DocumentProblem::UnsupportedType => format!("{field} allowed document types: png,jpg,pdf."),
        }
    }
}

const INDIFFERENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, INDIFFERENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, INDIFFERENT);

/// Decodes one document field. Accepted forms: standard or URL-safe base64, padding optional,
/// with line breaks (Python's `base64.encodebytes`, PEM-style wrapping) and with a
/// `data:<anything>;base64,` prefix, whose declared type is ignored. An empty string means no
/// document. The size is checked on the text first, so an oversized document is refused without
/// decoding it.
pub fn decode(text: &str) -> Result<Option<Document>, DocumentProblem> {
    let mut text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Some(rest) = text.strip_prefix("data:") {
        let comma = rest.find(',').filter(|&i| i <= 200).ok_or(DocumentProblem::NotBase64)?;
        if !rest[..comma].ends_with(";base64") {
            return Err(DocumentProblem::NotBase64);
        }
        text = &rest[comma + 1..];
    }
    let compact: Cow<str> = if text.bytes().any(|b| b.is_ascii_whitespace()) {
        Cow::Owned(text.chars().filter(|c| !c.is_ascii_whitespace()).collect())
    } else {
        Cow::Borrowed(text)
    };
    if compact.len() > MAX_DOCUMENT_BASE64_LEN {
        return Err(DocumentProblem::TooLarge);
    }
    let bytes = STANDARD
        .decode(compact.as_bytes())
        .or_else(|_| URL_SAFE.decode(compact.as_bytes()))
        .map_err(|_| DocumentProblem::NotBase64)?;
    drop(compact);
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentProblem::TooLarge);
    }
    if bytes.is_empty() {
        return Ok(None);
    }
    let kind = DocumentType::sniff(&bytes).ok_or(DocumentProblem::UnsupportedType)?;
    Ok(Some(Document { kind, bytes }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD as B64;

    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R'];

    #[test]
    fn the_bytes_decide_the_type() {
        assert_eq!(DocumentType::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(DocumentType::Jpg));
        assert_eq!(DocumentType::sniff(PNG), Some(DocumentType::Png));
        assert_eq!(DocumentType::sniff(b"%PDF-1.7\n"), Some(DocumentType::Pdf));
        for other in [&b"MZ\x90\x00"[..], b"GIF89a", b"hello.pdf", b"%PD", b"", &[0xFF, 0xD8]] {
            assert_eq!(DocumentType::sniff(other), None, "{other:?}");
        }
        // A data URL that claims a PDF but carries a PNG is a PNG.
        let claimed = format!("data:application/pdf;base64,{}", B64.encode(PNG));
        assert_eq!(decode(&claimed).unwrap().unwrap().kind, DocumentType::Png);
    }

    #[test]
    fn base64_forms() {
        let encoded = B64.encode(PNG);
        assert_eq!(decode(&encoded).unwrap().unwrap().bytes, PNG);
        assert_eq!(decode(encoded.trim_end_matches('=')).unwrap().unwrap().bytes, PNG);
        let wrapped: String =
            encoded.as_bytes().chunks(4).map(|c| format!("{}\n", std::str::from_utf8(c).unwrap())).collect();
        assert_eq!(decode(&wrapped).unwrap().unwrap().bytes, PNG);
        let url_safe = base64::engine::general_purpose::URL_SAFE.encode([0xFF, 0xD8, 0xFF, 0xFB, 0xFF, 0xFE]);
        assert_eq!(decode(&url_safe).unwrap().unwrap().kind, DocumentType::Jpg);
        assert_eq!(decode("  "), Ok(None));
        assert_eq!(decode("not base64!"), Err(DocumentProblem::NotBase64));
        assert_eq!(decode("data:image/png,rawbytes"), Err(DocumentProblem::NotBase64));
        assert_eq!(decode(&B64.encode(b"MZ\x90\x00 an exe")), Err(DocumentProblem::UnsupportedType));
    }

    #[test]
    fn size_is_capped_at_ten_mebibytes() {
        let mut at_limit = vec![0u8; MAX_DOCUMENT_BYTES];
        at_limit[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
        assert_eq!(decode(&B64.encode(&at_limit)).unwrap().unwrap().bytes.len(), MAX_DOCUMENT_BYTES);
        at_limit.push(0);
        assert_eq!(decode(&B64.encode(&at_limit)), Err(DocumentProblem::TooLarge));
        // Refused on its length alone, before any decoding: this text is not even base64.
        assert_eq!(decode(&"!".repeat(MAX_DOCUMENT_BASE64_LEN + 1)), Err(DocumentProblem::TooLarge));
    }

    #[test]
    fn debug_never_shows_the_bytes() {
        let doc = Document { kind: DocumentType::Png, bytes: b"SECRET-MARKER".to_vec() };
        let shown = format!("{doc:?}");
        assert!(!shown.contains("SECRET") && !shown.contains("83, 69"), "{shown}");
    }

    #[test]
    fn messages_name_the_slot() {
        assert_eq!(
            DocumentProblem::UnsupportedType.message(DocumentSlot::Two),
            "document2 allowed document types: png,jpg,pdf."
        );
    }
}
