//! deb822 control-file syntax: paragraphs (stanzas) of `Field: value` lines separated by blank
//! lines, where a line starting with a space or tab continues the previous field.
//!
//! This is the general, borrowing parser used for small documents (`Release`, `.sources`). The
//! 50 MB `Packages` indexes go through the specialised parser in [`crate::apt::index`].
//!
//! ```
//! use mbi_distro::apt::control::parse_paragraphs;
//! let text = "Package: a\nDepends: b,\n c\n\nPackage: d\n";
//! let paras = parse_paragraphs(text, "example", false).unwrap();
//! assert_eq!(paras.len(), 2);
//! assert_eq!(paras[0].get("depends"), Some("b,\n c"));
//! assert_eq!(paras[1].line(), 5);
//! ```

use crate::Error;

/// One field of a paragraph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The name as written.
    pub name: &'a str,
    /// The value: the first line trimmed, then the continuation lines verbatim (each starting
    /// with `\n` and its leading whitespace), trailing whitespace removed.
    pub value: &'a str,
    /// 1-based line of the field name.
    pub line: usize,
}

/// A paragraph (stanza): fields in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paragraph<'a> {
    line: usize,
    fields: Vec<Field<'a>>,
}

impl<'a> Paragraph<'a> {
    /// 1-based line of the paragraph's first field.
    pub fn line(&self) -> usize {
        self.line
    }

    /// All fields in order.
    pub fn fields(&self) -> &[Field<'a>] {
        &self.fields
    }

    /// The field called `name` (compared case-insensitively, as deb822 requires).
    pub fn field(&self, name: &str) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The value of the field called `name`.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.field(name).map(|f| f.value)
    }
}

/// Parses `text` into paragraphs. `context` names the document in errors. With
/// `allow_comments`, lines starting with `#` are ignored (deb822 `.sources` files allow them;
/// `Release` and `Packages` do not).
pub fn parse_paragraphs<'a>(
    text: &'a str,
    context: &str,
    allow_comments: bool,
) -> Result<Vec<Paragraph<'a>>, Error> {
    let err = |line: usize, field: Option<&str>, reason: &str| Error::Control {
        context: context.to_owned(),
        line,
        package: None,
        field: field.map(str::to_owned),
        reason: reason.to_owned(),
    };
    let mut out = Vec::new();
    let mut cur: Option<Paragraph<'a>> = None;
    let mut offset = 0usize;
    for (idx, raw) in text.split_inclusive('\n').enumerate() {
        let lineno = idx + 1;
        let start = offset;
        offset += raw.len();
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if allow_comments && line.starts_with('#') {
            continue;
        }
        if line.trim_matches([' ', '\t']).is_empty() {
            if let Some(p) = cur.take() {
                out.push(p);
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let Some(field) = cur.as_mut().and_then(|p| p.fields.last_mut()) else {
                return Err(err(lineno, None, "continuation line without a field"));
            };
            // Extend the value to the end of this line (inside `text`, so it stays borrowed).
            let value_start = field.value.as_ptr() as usize - text.as_ptr() as usize;
            let end = (start + line.len()).max(value_start);
            field.value = text[value_start..end].trim_end();
            continue;
        }
        let Some(colon) = line.find(':') else {
            return Err(err(lineno, None, "expected 'Field: value'"));
        };
        let name = &line[..colon];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) || name.starts_with('-') {
            return Err(err(lineno, None, "invalid field name"));
        }
        let value = line[colon + 1..].trim_matches([' ', '\t']);
        let para = cur.get_or_insert_with(|| Paragraph { line: lineno, fields: Vec::new() });
        if para.field(name).is_some() {
            return Err(err(lineno, Some(name), "duplicate field"));
        }
        para.fields.push(Field { name, value, line: lineno });
    }
    if let Some(p) = cur.take() {
        out.push(p);
    }
    Ok(out)
}

/// The lines of a multi-line value, each trimmed, with deb822's `.` (an empty line) turned into
/// an empty string. The first line (the text on the field's own line) is included even if
/// empty, so callers that expect only continuation lines should skip empty lines.
pub fn value_lines(value: &str) -> impl Iterator<Item = &str> {
    value.split('\n').map(|l| {
        let t = l.trim_matches([' ', '\t', '\r']);
        if t == "." { "" } else { t }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiline_and_comments() {
        let t = "# head\nA: 1\nB:\n x\n .\n y\n# c\n\n\nC:  z  \n";
        let p = parse_paragraphs(t, "t", true).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].get("b"), Some("\n x\n .\n y"));
        assert_eq!(value_lines(p[0].get("b").unwrap()).collect::<Vec<_>>(), ["", "x", "", "y"]);
        assert_eq!(p[1].get("C"), Some("z"));
        assert_eq!(p[1].line(), 10);
    }

    #[test]
    fn errors_name_line() {
        let e = parse_paragraphs("A: 1\nnocolon\n", "doc", false).unwrap_err();
        assert!(e.to_string().contains("doc, line 2"), "{e}");
        assert!(parse_paragraphs(" x\n", "doc", false).is_err());
        let e = parse_paragraphs("A: 1\na: 2\n", "doc", false).unwrap_err();
        assert!(e.to_string().contains("duplicate"), "{e}");
        assert!(parse_paragraphs("# c\n", "doc", false).is_err());
    }

    #[test]
    fn crlf() {
        let p = parse_paragraphs("A: 1\r\nB: 2\r\n\r\nC: 3\r\n", "t", false).unwrap();
        assert_eq!(p[0].get("A"), Some("1"));
        assert_eq!(p.len(), 2);
    }
}
