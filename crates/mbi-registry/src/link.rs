//! The `Link` header (RFC 8288) that registries use to paginate tag lists, catalogs and referrers:
//! `</v2/app/tags/list?n=100&last=v9>; rel="next"`.

/// One link: its target (as written, possibly relative) and its `rel` values (lowercased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The URI reference between `<` and `>`.
    pub target: String,
    /// The relation types, lowercased.
    pub rel: Vec<String>,
}

/// Parses a `Link` header value into its links. Never panics; malformed input gives an error
/// naming the position.
pub fn parse_link_header(input: &str) -> Result<Vec<Link>, String> {
    let s = input.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let ws = |i: &mut usize| {
        while *i < s.len() && matches!(s[*i], b' ' | b'\t') {
            *i += 1;
        }
    };
    loop {
        while i < s.len() && matches!(s[i], b' ' | b'\t' | b',') {
            i += 1;
        }
        if i >= s.len() {
            break;
        }
        if s[i] != b'<' {
            return Err(format!("expected '<' at byte {i}"));
        }
        let end = input[i + 1..]
            .find('>')
            .map(|e| i + 1 + e)
            .ok_or_else(|| format!("unterminated '<' at byte {i}"))?;
        let target = input[i + 1..end].trim().to_owned();
        i = end + 1;
        let mut rel = Vec::new();
        loop {
            ws(&mut i);
            if i >= s.len() || s[i] == b',' {
                break;
            }
            if s[i] != b';' {
                return Err(format!("expected ';' or ',' at byte {i}"));
            }
            i += 1;
            ws(&mut i);
            let start = i;
            while i < s.len() && !matches!(s[i], b'=' | b';' | b',' | b' ' | b'\t') {
                i += 1;
            }
            let name = input[start..i].to_ascii_lowercase();
            if name.is_empty() {
                return Err(format!("empty link parameter name at byte {start}"));
            }
            ws(&mut i);
            let mut value = String::new();
            if i < s.len() && s[i] == b'=' {
                i += 1;
                ws(&mut i);
                if i < s.len() && s[i] == b'"' {
                    i += 1;
                    let mut v = Vec::new();
                    loop {
                        match s.get(i) {
                            None => return Err("unterminated quoted string".to_owned()),
                            Some(b'"') => {
                                i += 1;
                                break;
                            }
                            Some(b'\\') => {
                                i += 1;
                                match s.get(i) {
                                    Some(&c) => v.push(c),
                                    None => return Err("unterminated escape".to_owned()),
                                }
                                i += 1;
                            }
                            Some(&c) => {
                                v.push(c);
                                i += 1;
                            }
                        }
                    }
                    value = String::from_utf8(v).map_err(|_| "parameter is not UTF-8")?;
                } else {
                    let start = i;
                    while i < s.len() && !matches!(s[i], b';' | b',' | b' ' | b'\t') {
                        i += 1;
                    }
                    value = input[start..i].to_owned();
                }
            }
            if name == "rel" {
                rel.extend(value.split_ascii_whitespace().map(str::to_ascii_lowercase));
            }
        }
        out.push(Link { target, rel });
    }
    Ok(out)
}

/// The target of the first `rel="next"` link, if any.
pub fn next_link(input: &str) -> Result<Option<String>, String> {
    Ok(parse_link_header(input)?
        .into_iter()
        .find(|l| l.rel.iter().any(|r| r == "next"))
        .map(|l| l.target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_style() {
        let v = r#"</v2/app/tags/list?last=v9&n=100>; rel="next""#;
        assert_eq!(next_link(v).unwrap().as_deref(), Some("/v2/app/tags/list?last=v9&n=100"));
        let v = r#"<https://x.test/a>; rel=prev, <https://x.test/b>;title="a,b;c"; rel="alternate next""#;
        let links = parse_link_header(v).unwrap();
        assert_eq!(links.len(), 2);
        assert_eq!(links[1].rel, vec!["alternate", "next"]);
        assert_eq!(next_link(v).unwrap().as_deref(), Some("https://x.test/b"));
        assert_eq!(next_link("").unwrap(), None);
        assert_eq!(next_link("<a>").unwrap(), None);
    }

    #[test]
    fn malformed() {
        for bad in ["x", "<a", "<a> x", r#"<a>; rel="n"#, "<a>; =x", "<a>; rel=\"\\"] {
            assert!(parse_link_header(bad).is_err(), "{bad}");
        }
    }
}
