//! GONOPROXY / GOPRIVATE pattern matching, as `module.MatchPrefixPatterns`
//! and `path.Match` in Go.

/// Reports whether any pattern in the comma-separated `globs` matches a
/// prefix of `target` (a module path), like Go's
/// `golang.org/x/mod/module.MatchPrefixPatterns`.
///
/// A glob with N slashes is matched against the first N+1 path elements of
/// `target`. Malformed globs never match (Go ignores them the same way).
pub(crate) fn match_prefix_patterns(globs: &str, target: &str) -> bool {
    globs
        .split(',')
        .map(|g| g.trim().trim_end_matches('/'))
        .filter(|g| !g.is_empty())
        .any(|glob| {
            let mut n = glob.matches('/').count();
            let mut prefix = target;
            for (i, b) in target.bytes().enumerate() {
                if b == b'/' {
                    if n == 0 {
                        prefix = &target[..i];
                        break;
                    }
                    n -= 1;
                }
            }
            if n > 0 {
                // Not enough path elements in target.
                return false;
            }
            glob_match(glob, prefix).unwrap_or(false)
        })
}

/// Go's `path.Match`: `*` matches any run of non-`/` characters, `?` one
/// non-`/` character, `[...]` a character class (`^` negates, `a-z` ranges),
/// `\` escapes. `None` means the pattern is malformed.
pub(crate) fn glob_match(pattern: &str, name: &str) -> Option<bool> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> Option<bool> {
    let Some((&c, rest)) = p.split_first() else {
        return Some(n.is_empty());
    };
    match c {
        '*' => {
            let mut rest = rest;
            while let Some(('*', r)) = rest.split_first() {
                rest = r;
            }
            // Validate the rest of the pattern even when the name runs out,
            // so that malformed patterns are reported consistently.
            let mut i = 0;
            loop {
                if match_from(rest, &n[i..])? {
                    return Some(true);
                }
                if i >= n.len() || n[i] == '/' {
                    return Some(false);
                }
                i += 1;
            }
        }
        '?' => match n.split_first() {
            Some((&x, nrest)) if x != '/' => match_from(rest, nrest),
            _ => {
                check_pattern(rest)?;
                Some(false)
            }
        },
        '[' => {
            let (class_len, matches) = match_class(rest, n.first().copied())?;
            if matches {
                match_from(&rest[class_len..], &n[1..])
            } else {
                check_pattern(&rest[class_len..])?;
                Some(false)
            }
        }
        '\\' => {
            let (&lit, rest) = rest.split_first()?;
            literal(lit, rest, n)
        }
        _ => literal(c, rest, n),
    }
}

fn literal(c: char, rest: &[char], n: &[char]) -> Option<bool> {
    match n.split_first() {
        Some((&x, nrest)) if x == c => match_from(rest, nrest),
        _ => {
            check_pattern(rest)?;
            Some(false)
        }
    }
}

/// Validates the remainder of a pattern (`None` if malformed).
fn check_pattern(p: &[char]) -> Option<()> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return None;
                }
                i += 2;
            }
            '[' => {
                let (len, _) = match_class(&p[i + 1..], None)?;
                i += 1 + len;
            }
            _ => i += 1,
        }
    }
    Some(())
}

/// Parses a character class that starts just after `[`. Returns the number
/// of pattern characters it used (including the closing `]`) and whether `c`
/// is in it. `None` if the class is malformed.
fn match_class(p: &[char], c: Option<char>) -> Option<(usize, bool)> {
    let mut i = 0;
    let negated = p.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut nrange = 0;
    loop {
        if i < p.len() && p[i] == ']' && nrange > 0 {
            i += 1;
            break;
        }
        let (lo, used) = class_char(&p[i..])?;
        i += used;
        let mut hi = lo;
        if p.get(i) == Some(&'-') {
            let (h, used) = class_char(&p[i + 1..])?;
            hi = h;
            i += 1 + used;
        }
        if let Some(c) = c
            && lo <= c
            && c <= hi
        {
            matched = true;
        }
        nrange += 1;
    }
    Some((i, c.is_some() && matched != negated))
}

fn class_char(p: &[char]) -> Option<(char, usize)> {
    match p.first()? {
        '-' | ']' => None,
        '\\' => Some((*p.get(1)?, 2)),
        &c => Some((c, 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_match() {
        assert_eq!(glob_match("abc", "abc"), Some(true));
        assert_eq!(glob_match("*", "abc"), Some(true));
        assert_eq!(glob_match("*c", "abc"), Some(true));
        assert_eq!(glob_match("a*", "a"), Some(true));
        assert_eq!(glob_match("a*", "ab/c"), Some(false));
        assert_eq!(glob_match("a*/b", "abc/b"), Some(true));
        assert_eq!(glob_match("a*b*c*d*e*/f", "axbxcxdxe/f"), Some(true));
        assert_eq!(glob_match("a*b*c*d*e*/f", "axbxcxdxexxx/f"), Some(true));
        assert_eq!(glob_match("a*b*c*d*e*/f", "axbxcxdxe/xxx/f"), Some(false));
        assert_eq!(glob_match("a*b?c*x", "abxbbxdbxebxczzx"), Some(true));
        assert_eq!(glob_match("a*b?c*x", "abxbbxdbxebxczzy"), Some(false));
        assert_eq!(glob_match("ab[c]", "abc"), Some(true));
        assert_eq!(glob_match("ab[b-d]", "abc"), Some(true));
        assert_eq!(glob_match("ab[e-g]", "abc"), Some(false));
        assert_eq!(glob_match("ab[^c]", "abc"), Some(false));
        assert_eq!(glob_match("ab[^b-d]", "abc"), Some(false));
        assert_eq!(glob_match("ab[^e-g]", "abc"), Some(true));
        assert_eq!(glob_match("a\\*b", "a*b"), Some(true));
        assert_eq!(glob_match("a\\*b", "ab"), Some(false));
        assert_eq!(glob_match("a?b", "a☺b"), Some(true));
        assert_eq!(glob_match("a?b", "a/b"), Some(false));
        assert_eq!(glob_match("a*b", "a/b"), Some(false));
        assert_eq!(glob_match("[\\]a]", "]"), Some(true));
        assert_eq!(glob_match("[\\-]", "-"), Some(true));
        assert_eq!(glob_match("[x\\-]", "z"), Some(false));
        assert_eq!(glob_match("[]a]", "]"), None);
        assert_eq!(glob_match("[-]", "-"), None);
        assert_eq!(glob_match("[x-]", "x"), None);
        assert_eq!(glob_match("[a-b-c]", "a"), None);
        assert_eq!(glob_match("[", "a"), None);
        assert_eq!(glob_match("[^", "a"), None);
        assert_eq!(glob_match("a\\", "a"), None);
        assert_eq!(glob_match("*x", "xxx"), Some(true));
        assert_eq!(glob_match("", ""), Some(true));
        assert_eq!(glob_match("", "a"), Some(false));
    }

    #[test]
    fn prefix_patterns() {
        let globs = "*.corp.example.com,rsc.io/private,github.com/org/*";
        assert!(match_prefix_patterns(globs, "git.corp.example.com/x/y"));
        assert!(!match_prefix_patterns(globs, "corp.example.com/x"));
        assert!(match_prefix_patterns(globs, "rsc.io/private"));
        assert!(match_prefix_patterns(globs, "rsc.io/private/sub/pkg"));
        assert!(!match_prefix_patterns(globs, "rsc.io/privateer"));
        assert!(!match_prefix_patterns(globs, "rsc.io/quote"));
        assert!(match_prefix_patterns(globs, "github.com/org/repo"));
        assert!(match_prefix_patterns(globs, "github.com/org/repo/v2"));
        assert!(!match_prefix_patterns(globs, "github.com/org"));
        assert!(!match_prefix_patterns(globs, "github.com/other/repo"));
        assert!(match_prefix_patterns("example.com/", "example.com/a"));
        assert!(match_prefix_patterns(" , ,example.com", "example.com/a"));
        assert!(!match_prefix_patterns("", "example.com"));
        assert!(!match_prefix_patterns("none", "example.com"));
        assert!(!match_prefix_patterns("[", "example.com"));
    }
}
