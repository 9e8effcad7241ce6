//! `WWW-Authenticate` challenges (RFC 7235), as registries send them:
//! `Bearer realm="https://auth.example/token",service="registry",scope="repository:app:pull"`.

/// One authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, lowercased (`basic`, `bearer`, …).
    pub scheme: String,
    /// Parameters in order, names lowercased, values unquoted.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Parses every challenge in one `WWW-Authenticate` header value.
///
/// Malformed input gives an error naming the position; the parser never panics.
pub fn parse_challenges(input: &str) -> Result<Vec<Challenge>, String> {
    let mut p = Parser { s: input.as_bytes(), i: 0 };
    let mut out: Vec<Challenge> = Vec::new();
    loop {
        p.skip_ows_commas();
        if p.eof() {
            break;
        }
        let Some(scheme) = p.token().map(str::to_ascii_lowercase) else {
            return Err(p.err("expected an auth scheme"));
        };
        let mut ch = Challenge { scheme, params: Vec::new() };
        // Parameters follow after at least one space; a following "token SP" (no '=') starts
        // the next challenge.
        loop {
            let save = p.i;
            p.skip_ows_commas();
            if p.eof() {
                break;
            }
            let start = p.i;
            if let Some(name) = p.token().map(str::to_ascii_lowercase) {
                p.skip_ws();
                if p.peek() != Some(b'=') {
                    // A bare token: the next challenge's scheme.
                    p.i = save;
                    break;
                }
                p.i += 1;
                p.skip_ws();
                let value = match p.peek() {
                    Some(b'"') => Some(p.quoted()?),
                    _ => p.token().map(str::to_owned),
                };
                if let Some(value) = value {
                    ch.params.push((name, value));
                    p.skip_ws();
                    match p.peek() {
                        None | Some(b',') => continue,
                        Some(_) => return Err(p.err("expected ',' between parameters")),
                    }
                }
            }
            // token68 (e.g. `Negotiate abc==`): kept as an unnamed parameter.
            p.i = start;
            let t = p.token68().ok_or_else(|| p.err("expected a parameter"))?;
            p.skip_ws();
            if !matches!(p.peek(), None | Some(b',')) {
                return Err(p.err("expected ',' after token68"));
            }
            ch.params.push((String::new(), t));
        }
        out.push(ch);
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn eof(&self) -> bool {
        self.i >= self.s.len()
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn err(&self, what: &str) -> String {
        format!("{what} at byte {}", self.i)
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn skip_ows_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Option<&str> {
        let start = self.i;
        while let Some(b) = self.peek() {
            if b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b) {
                self.i += 1;
            } else {
                break;
            }
        }
        if self.i == start {
            return None;
        }
        std::str::from_utf8(&self.s[start..self.i]).ok()
    }
    fn token68(&mut self) -> Option<String> {
        let start = self.i;
        while let Some(b) = self.peek() {
            if b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b) {
                self.i += 1;
            } else {
                break;
            }
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn quoted(&mut self) -> Result<String, String> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        self.i += 1;
        let mut v = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated quoted string")),
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c) => {
                            v.push(c);
                            self.i += 1;
                        }
                        None => return Err(self.err("unterminated escape")),
                    }
                }
                Some(c) => {
                    v.push(c);
                    self.i += 1;
                }
            }
        }
        String::from_utf8(v).map_err(|_| self.err("quoted string is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_with_scope() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.test/token",service="reg",scope="repository:a/b:pull,push",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.test/token"));
        assert_eq!(c[0].param("Scope"), Some("repository:a/b:pull,push"));
        assert_eq!(c[0].param("error"), Some("insufficient_scope"));
    }

    #[test]
    fn several_challenges_and_odd_spacing() {
        let c = parse_challenges(
            r#"Basic realm="Registry Realm", Bearer  realm = "x\"y" , service=tok, Negotiate abc=="#,
        )
        .unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some("Registry Realm"));
        assert_eq!(c[1].param("realm"), Some("x\"y"));
        assert_eq!(c[1].param("service"), Some("tok"));
        assert_eq!(c[2].scheme, "negotiate");
        assert_eq!(c[2].params, vec![(String::new(), "abc==".to_owned())]);
    }

    #[test]
    fn malformed() {
        for bad in
            [r#"Bearer realm="x"#, "Bearer realm=;", r#"Bearer realm="a" x"#, "=", "Bearer a=\"\\"]
        {
            assert!(parse_challenges(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_challenges("").unwrap(), vec![]);
        assert_eq!(parse_challenges("Basic").unwrap()[0].scheme, "basic");
    }
}
