//! oVirt's search language (`GET /vms?search=name=web* and status=up sortby name desc page 2`).
//!
//! Parsed into a structured query — conditions in disjunctive normal form, a sort key, a page
//! — that the store translates into its own query language; nothing here knows SQL, and the
//! store decides which fields exist (an unknown field is its error, not the parser's).
//!
//! # Grammar
//!
//! ```text
//! query      := [filter] tail
//! filter     := conjunction ( "or" conjunction )*
//! conjunction:= term ( ["and"] term )*                -- juxtaposition means "and", as in oVirt
//! term       := "(" filter ")" | condition
//! condition  := field operator value
//! field      := [A-Za-z_][A-Za-z0-9_.-]*              -- compared lower-case: Name = name
//! operator   := "=" | "!=" | "<" | "<=" | ">" | ">="
//! value      := quoted | bare
//! quoted     := '"' chars '"' | "'" chars "'"          -- may hold spaces
//! bare       := any characters up to the next blank (or, inside parentheses, an unescaped ")")
//! tail       := [ "sortby" field [ "asc" | "desc" ] ] [ "page" N ]   -- either order, N >= 1
//! ```
//!
//! Keywords (`and`, `or`, `sortby`, `asc`, `desc`, `page`) are case-insensitive and count as
//! keywords only when followed by a blank or the end (`page=3` is a condition on `page`).
//! `and` binds tighter than `or`; parentheses group, and the filter is expanded into the same
//! disjunctive normal form (refused past [`MAX_ALTERNATIVES`] groups or [`MAX_NESTING`] levels,
//! so a short search cannot become a huge query). In values, `*`
//! matches any run of characters, and only with `=` and `!=`; a backslash makes the next
//! character literal (`\*`, `\"`, `\\`). Values keep their case: whether comparisons ignore
//! case is the request's `case_sensitive` parameter, which the store applies.

use super::error::ReprError;

/// A parsed search. The default (an empty search) matches everything, unsorted, unpaged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchQuery {
    /// Matches when all conditions of any one group hold; empty matches everything.
    pub any_of: Vec<Vec<Condition>>,
    pub sort: Option<SortBy>,
    /// 1-based page number (the page size is the request's `max`).
    pub page: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// Lower-case field name, possibly dotted (`cluster.name`).
    pub field: String,
    pub op: Operator,
    pub value: SearchValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Operator {
    pub const fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "=",
            Operator::Ne => "!=",
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortBy {
    pub field: String,
    pub direction: SortDirection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortDirection {
    #[default]
    Asc,
    Desc,
}

/// A value to compare with: literal text, or a pattern when it has wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchValue {
    parts: Vec<PatternPart>,
}

/// A piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternPart {
    Literal(String),
    /// `*`: any run of characters, possibly empty.
    AnyString,
}

impl SearchValue {
    /// A value without wildcards.
    pub fn literal(text: impl Into<String>) -> Self {
        let text = text.into();
        SearchValue { parts: if text.is_empty() { vec![] } else { vec![PatternPart::Literal(text)] } }
    }

    /// The pieces, literal text and wildcards, in order (adjacent literals are merged).
    pub fn parts(&self) -> &[PatternPart] {
        &self.parts
    }

    pub fn has_wildcard(&self) -> bool {
        self.parts.contains(&PatternPart::AnyString)
    }

    /// The text when there is no wildcard.
    pub fn as_literal(&self) -> Option<String> {
        (!self.has_wildcard()).then(|| self.to_string())
    }

    /// Whether `candidate` matches (whole string; `*` matches any run).
    pub fn matches(&self, candidate: &str, case_sensitive: bool) -> bool {
        let fold = |s: &str| if case_sensitive { s.to_owned() } else { s.to_lowercase() };
        let candidate = fold(candidate);
        let parts: Vec<PatternPart> = self
            .parts
            .iter()
            .map(|p| match p {
                PatternPart::Literal(l) => PatternPart::Literal(fold(l)),
                PatternPart::AnyString => PatternPart::AnyString,
            })
            .collect();
        glob_match(&parts, &candidate)
    }

    fn push_char(&mut self, c: char) {
        match self.parts.last_mut() {
            Some(PatternPart::Literal(l)) => l.push(c),
            _ => self.parts.push(PatternPart::Literal(c.to_string())),
        }
    }

    fn push_wildcard(&mut self) {
        if self.parts.last() != Some(&PatternPart::AnyString) {
            self.parts.push(PatternPart::AnyString);
        }
    }
}

impl std::fmt::Display for SearchValue {
    /// The value as typed, with `*` for wildcards and `\*` for literal stars.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for part in &self.parts {
            match part {
                PatternPart::Literal(l) => f.write_str(&l.replace('\\', "\\\\").replace('*', "\\*"))?,
                PatternPart::AnyString => f.write_str("*")?,
            }
        }
        Ok(())
    }
}

/// Whole-string match of a `*`-only pattern in O(len(text) × len(pattern)): the first and last
/// literals anchor to the ends, the ones between match leftmost, which is exact for `*` (no
/// backtracking, so a pattern such as `*a*a*a*b` cannot make a search slow).
fn glob_match(parts: &[PatternPart], text: &str) -> bool {
    if !parts.contains(&PatternPart::AnyString) {
        let literal: String = parts
            .iter()
            .map(|p| match p {
                PatternPart::Literal(l) => l.as_str(),
                PatternPart::AnyString => "",
            })
            .collect();
        return literal == text;
    }
    let (mut parts, mut rest) = (parts, text);
    if let Some((PatternPart::Literal(first), tail)) = parts.split_first() {
        let Some(after) = rest.strip_prefix(first.as_str()) else { return false };
        (parts, rest) = (tail, after);
    }
    if let Some((PatternPart::Literal(last), head)) = parts.split_last() {
        let Some(before) = rest.strip_suffix(last.as_str()) else { return false };
        (parts, rest) = (head, before);
    }
    for part in parts {
        if let PatternPart::Literal(literal) = part {
            let Some(at) = rest.find(literal.as_str()) else { return false };
            rest = &rest[at + literal.len()..];
        }
    }
    true
}

/// Parses a `search` parameter (see the module docs for the grammar).
pub fn parse_search(q: &str) -> Result<SearchQuery, ReprError> {
    let mut parser = Parser { query: q, chars: q.chars().collect(), pos: 0 };
    parser.query()
}

struct Parser<'q> {
    query: &'q str,
    chars: Vec<char>,
    pos: usize,
}

/// The most groups a filter may expand to (`(a or b) and (c or d)` is 4).
pub const MAX_ALTERNATIVES: usize = 64;
/// The deepest nesting of parentheses.
pub const MAX_NESTING: usize = 16;

/// A filter in disjunctive normal form: any one group of conditions, all holding.
type Groups = Vec<Vec<Condition>>;

impl Parser<'_> {
    fn query(&mut self) -> Result<SearchQuery, ReprError> {
        let mut result = SearchQuery::default();
        self.skip_blanks();
        if !self.filter_ends(0) {
            result.any_of = self.disjunction(0)?;
        }
        self.skip_blanks();
        if self.peek() == Some(')') {
            return Err(self.error("this ')' closes no '('"));
        }
        self.tail(&mut result)?;
        Ok(result)
    }

    /// Where a filter at `depth` ends: the end, the tail, or (inside parentheses) a `)`.
    fn filter_ends(&self, depth: usize) -> bool {
        self.at_end()
            || self.peek_keyword("sortby")
            || self.peek_keyword("page")
            || (depth > 0 && self.peek() == Some(')'))
    }

    fn disjunction(&mut self, depth: usize) -> Result<Groups, ReprError> {
        let mut groups = self.conjunction(depth)?;
        loop {
            self.skip_blanks();
            if !self.peek_keyword("or") {
                return Ok(groups);
            }
            self.take_keyword("or");
            self.skip_blanks();
            if self.filter_ends(depth) || self.peek_keyword("or") || self.peek_keyword("and") {
                return Err(self.error("expected a condition after 'or'"));
            }
            let at = self.pos;
            groups.extend(self.conjunction(depth)?);
            self.alternatives_check(at, groups.len())?;
        }
    }

    fn conjunction(&mut self, depth: usize) -> Result<Groups, ReprError> {
        let mut groups = self.term(depth)?;
        loop {
            self.skip_blanks();
            if self.filter_ends(depth) || self.peek_keyword("or") {
                return Ok(groups);
            }
            if self.peek() == Some(')') {
                return Err(self.error("this ')' closes no '('"));
            }
            if self.peek_keyword("and") {
                self.take_keyword("and");
                self.skip_blanks();
                if self.filter_ends(depth) || self.peek_keyword("or") || self.peek_keyword("and") {
                    return Err(self.error("expected a condition after 'and'"));
                }
            }
            let at = self.pos;
            let next = self.term(depth)?;
            self.alternatives_check(at, groups.len().saturating_mul(next.len()))?;
            groups = groups
                .iter()
                .flat_map(|g| next.iter().map(move |n| g.iter().chain(n).cloned().collect::<Vec<_>>()))
                .collect();
        }
    }

    fn term(&mut self, depth: usize) -> Result<Groups, ReprError> {
        self.skip_blanks();
        for keyword in ["and", "or"] {
            if self.peek_keyword(keyword) {
                return Err(self.error(format!("'{keyword}' must follow a condition")));
            }
        }
        if self.peek() != Some('(') {
            return Ok(vec![vec![self.condition(depth)?]]);
        }
        let open = self.pos;
        if depth >= MAX_NESTING {
            return Err(self.error(format!("parentheses may nest at most {MAX_NESTING} deep")));
        }
        self.pos += 1;
        self.skip_blanks();
        if self.peek() == Some(')') {
            return Err(self.error("expected a condition inside the parentheses"));
        }
        let groups = self.disjunction(depth + 1)?;
        self.skip_blanks();
        if self.peek() != Some(')') {
            return Err(self.error_at(open, "this '(' is never closed"));
        }
        self.pos += 1;
        Ok(groups)
    }

    fn alternatives_check(&self, at: usize, count: usize) -> Result<(), ReprError> {
        if count > MAX_ALTERNATIVES {
            return Err(self.error_at(
                at,
                format!("the search expands to more than {MAX_ALTERNATIVES} alternatives; make it simpler"),
            ));
        }
        Ok(())
    }

    fn tail(&mut self, result: &mut SearchQuery) -> Result<(), ReprError> {
        loop {
            self.skip_blanks();
            if self.at_end() {
                return Ok(());
            }
            if self.peek_keyword("sortby") {
                if result.sort.is_some() {
                    return Err(self.error("'sortby' may appear only once"));
                }
                self.take_keyword("sortby");
                self.skip_blanks();
                let field = self.field().ok_or_else(|| self.error("expected a field name after 'sortby'"))?;
                self.skip_blanks();
                let direction = if self.peek_keyword("desc") {
                    self.take_keyword("desc");
                    SortDirection::Desc
                } else {
                    if self.peek_keyword("asc") {
                        self.take_keyword("asc");
                    }
                    SortDirection::Asc
                };
                result.sort = Some(SortBy { field, direction });
            } else if self.peek_keyword("page") {
                if result.page.is_some() {
                    return Err(self.error("'page' may appear only once"));
                }
                self.take_keyword("page");
                self.skip_blanks();
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                let digits: String = self.chars[start..self.pos].iter().collect();
                match digits.parse::<u32>() {
                    Ok(0) => return Err(self.error_at(start, "page numbers start at 1")),
                    Ok(n) if self.at_end() || self.peek().is_some_and(char::is_whitespace) => result.page = Some(n),
                    _ => return Err(self.error_at(start, "expected a page number (1, 2, ...) after 'page'")),
                }
            } else {
                return Err(self.error("expected 'sortby <field> [asc|desc]', 'page <n>' or the end of the search"));
            }
        }
    }

    fn condition(&mut self, depth: usize) -> Result<Condition, ReprError> {
        let field = self.field().ok_or_else(|| self.error("expected a condition such as name=value"))?;
        self.skip_blanks();
        let op_at = self.pos;
        let op =
            self.operator().ok_or_else(|| self.error(format!("expected =, !=, <, <=, > or >= after '{field}'")))?;
        self.skip_blanks();
        let value_at = self.pos;
        let (value, quoted) = self.value(depth)?;
        if value.parts().is_empty() && !quoted {
            return Err(self.error_at(value_at, format!("expected a value after '{field}{}'", op.as_str())));
        }
        if value.has_wildcard() && !matches!(op, Operator::Eq | Operator::Ne) {
            return Err(self.error_at(op_at, format!("wildcards work only with = and !=, not with {}", op.as_str())));
        }
        Ok(Condition { field, op, value })
    }

    fn field(&mut self) -> Option<String> {
        let start = self.pos;
        if !self.peek().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') {
            return None;
        }
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            self.pos += 1;
        }
        Some(self.chars[start..self.pos].iter().collect::<String>().to_ascii_lowercase())
    }

    fn operator(&mut self) -> Option<Operator> {
        let two: String = self.chars.iter().skip(self.pos).take(2).collect();
        let (op, len) = match two.as_str() {
            "!=" => (Operator::Ne, 2),
            "<=" => (Operator::Le, 2),
            ">=" => (Operator::Ge, 2),
            _ => match two.chars().next()? {
                '=' => (Operator::Eq, 1),
                '<' => (Operator::Lt, 1),
                '>' => (Operator::Gt, 1),
                _ => return None,
            },
        };
        self.pos += len;
        Some(op)
    }

    /// A value, and whether it was quoted (so `name=""` means "empty", not "missing"). Inside
    /// parentheses (`depth` > 0) an unescaped `)` ends a bare value and may follow a quote.
    fn value(&mut self, depth: usize) -> Result<(SearchValue, bool), ReprError> {
        let closes = |c: Option<char>| depth > 0 && c == Some(')');
        let mut value = SearchValue { parts: vec![] };
        let quote = self.peek().filter(|c| matches!(c, '"' | '\''));
        let start = self.pos;
        if quote.is_some() {
            self.pos += 1;
        }
        loop {
            let Some(c) = self.peek() else {
                if quote.is_some() {
                    return Err(self.error_at(start, "this quote is never closed"));
                }
                break;
            };
            if Some(c) == quote {
                self.pos += 1;
                if !(self.at_end() || self.peek().is_some_and(char::is_whitespace) || closes(self.peek())) {
                    return Err(self.error("expected a blank after the closing quote"));
                }
                break;
            }
            if quote.is_none() && (c.is_whitespace() || closes(Some(c))) {
                break;
            }
            self.pos += 1;
            match c {
                '\\' => {
                    let escaped =
                        self.peek().ok_or_else(|| self.error("a backslash must be followed by a character"))?;
                    self.pos += 1;
                    value.push_char(escaped);
                }
                '*' => value.push_wildcard(),
                c => value.push_char(c),
            }
        }
        Ok((value, quote.is_some()))
    }

    /// Whether the next word is `keyword` (any case) followed by a blank, a parenthesis or the
    /// end.
    fn peek_keyword(&self, keyword: &str) -> bool {
        let len = keyword.chars().count();
        let word: String = self.chars.iter().skip(self.pos).take(len).collect();
        word.eq_ignore_ascii_case(keyword)
            && self.chars.get(self.pos + len).is_none_or(|c| c.is_whitespace() || matches!(c, '(' | ')'))
    }

    fn take_keyword(&mut self, keyword: &str) {
        self.pos += keyword.chars().count();
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn error(&self, message: impl Into<String>) -> ReprError {
        self.error_at(self.pos, message)
    }

    /// An error at 0-based character `pos`, reported 1-based.
    fn error_at(&self, pos: usize, message: impl Into<String>) -> ReprError {
        ReprError::Search { query: super::error::quote(self.query), position: pos + 1, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(field: &str, op: Operator, value: &str) -> Condition {
        Condition { field: field.into(), op, value: SearchValue::literal(value) }
    }

    fn err_at(q: &str) -> (usize, String) {
        match parse_search(q) {
            Err(ReprError::Search { position, message, .. }) => (position, message),
            other => panic!("{q:?} gave {other:?}"),
        }
    }

    #[test]
    fn empty_search_matches_everything() {
        assert_eq!(parse_search(""), Ok(SearchQuery::default()));
        assert_eq!(parse_search("   "), Ok(SearchQuery::default()));
    }

    #[test]
    fn conditions_and_or() {
        let q = parse_search("name=web and status=up").expect("parses");
        assert_eq!(q.any_of, vec![vec![cond("name", Operator::Eq, "web"), cond("status", Operator::Eq, "up")]]);
        let q = parse_search("Name = web  AND  Status != down Or memory>=1024 memory<4096").expect("parses");
        assert_eq!(
            q.any_of,
            vec![
                vec![cond("name", Operator::Eq, "web"), cond("status", Operator::Ne, "down")],
                vec![cond("memory", Operator::Ge, "1024"), cond("memory", Operator::Lt, "4096")],
            ]
        );
        let q = parse_search("a<1 b<=2 c>3 cluster.name=Default").expect("parses");
        let ops: Vec<_> = q.any_of[0].iter().map(|c| (c.field.as_str(), c.op)).collect();
        assert_eq!(
            ops,
            vec![("a", Operator::Lt), ("b", Operator::Le), ("c", Operator::Gt), ("cluster.name", Operator::Eq)]
        );
    }

    #[test]
    fn parentheses_group_and_expand_to_the_same_normal_form() {
        let eq = |f: &str, v: &str| cond(f, Operator::Eq, v);
        let q = parse_search("(name=a or name=b) and status=up sortby name").expect("parses");
        assert_eq!(
            q.any_of,
            vec![vec![eq("name", "a"), eq("status", "up")], vec![eq("name", "b"), eq("status", "up")]]
        );
        assert!(q.sort.is_some());
        let q = parse_search("status=up and(name=a or (name=b cluster=c))").expect("parses");
        assert_eq!(
            q.any_of,
            vec![
                vec![eq("status", "up"), eq("name", "a")],
                vec![eq("status", "up"), eq("name", "b"), eq("cluster", "c")]
            ]
        );
        let q = parse_search(r"(a=1 or a=2) (b=\)3 or b='4)')").expect("parses");
        assert_eq!(q.any_of.len(), 4);
        assert_eq!(q.any_of[0], vec![eq("a", "1"), eq("b", ")3")], "an escaped ) is part of a value");
        assert_eq!(q.any_of[3], vec![eq("a", "2"), eq("b", "4)")], "so is a quoted one");
        // Outside parentheses a ) stays part of a bare value, as before.
        assert_eq!(parse_search("name=a)").expect("parses").any_of, vec![vec![eq("name", "a)")]]);
        // Expansion and nesting are bounded.
        let wide = (0..7).map(|i| format!("(f{i}=a or f{i}=b)")).collect::<Vec<_>>().join(" and ");
        assert!(err_at(&wide).1.contains("more than 64 alternatives"), "{:?}", err_at(&wide));
        let deep = format!("{}a=1{}", "(".repeat(20), ")".repeat(20));
        assert!(err_at(&deep).1.contains("nest at most 16"), "{:?}", err_at(&deep));
    }

    #[test]
    fn unbalanced_parentheses_point_at_the_problem() {
        assert_eq!(err_at("(name=a or name=b"), (1, "this '(' is never closed".into()));
        assert_eq!(err_at("(name=a) ) b=1"), (10, "this ')' closes no '('".into()));
        assert_eq!(err_at("() name=a"), (2, "expected a condition inside the parentheses".into()));
        assert_eq!(err_at("(name=a or) b=1"), (11, "expected a condition after 'or'".into()));
        assert_eq!(err_at("(name=) b=1"), (7, "expected a value after 'name='".into()));
    }

    #[test]
    fn wildcards_and_quotes() {
        let q = parse_search(r#"name=web* and description="two words" and comment='it''"#);
        assert!(q.is_err(), "a quote must be followed by a blank");
        let q = parse_search(r#"name=web* and description="two \"words\"" and tag=a\*b"#).expect("parses");
        let values: Vec<_> = q.any_of[0].iter().map(|c| c.value.clone()).collect();
        assert_eq!(values[0].parts(), &[PatternPart::Literal("web".into()), PatternPart::AnyString]);
        assert_eq!(values[1].as_literal().as_deref(), Some("two \"words\""));
        assert_eq!(values[2].parts(), &[PatternPart::Literal("a*b".into())]);
        assert_eq!(values[2].to_string(), r"a\*b");
        assert!(values[0].matches("web01", true));
        assert!(values[0].matches("WEB", false));
        assert!(!values[0].matches("WEB", true));
        assert!(!values[0].matches("aweb", true));
        let star = parse_search("name=*a*b**").expect("parses").any_of[0][0].value.clone();
        assert!(star.matches("xaybz", true) && star.matches("ab", true) && !star.matches("ba", true));
        let ends = parse_search("name=ab*ba").expect("parses").any_of[0][0].value.clone();
        assert!(ends.matches("abba", true) && ends.matches("ab-x-ba", true));
        assert!(!ends.matches("aba", true) && !ends.matches("abbax", true));
        let slow = parse_search(&format!("name={}b", "*a".repeat(30))).expect("parses").any_of[0][0].value.clone();
        assert!(!slow.matches(&"a".repeat(255), true), "and quickly: no backtracking");
        assert!(SearchValue::literal("x").matches("X", false) && !SearchValue::literal("x").matches("xx", false));
        assert_eq!(
            parse_search(r#"description="""#).expect("parses").any_of[0][0].value.as_literal().as_deref(),
            Some("")
        );
    }

    #[test]
    fn sortby_and_page() {
        let q = parse_search("status=up sortby name desc page 2").expect("parses");
        assert_eq!(q.sort, Some(SortBy { field: "name".into(), direction: SortDirection::Desc }));
        assert_eq!(q.page, Some(2));
        let q = parse_search("PAGE 3 SortBy Creation_Time").expect("parses");
        assert_eq!(q.any_of, Vec::<Vec<Condition>>::new());
        assert_eq!(q.sort, Some(SortBy { field: "creation_time".into(), direction: SortDirection::Asc }));
        assert_eq!(q.page, Some(3));
        let q = parse_search("page=3 sortby name asc").expect("'page=' is a condition");
        assert_eq!(q.any_of, vec![vec![cond("page", Operator::Eq, "3")]]);
        let q = parse_search("name=andy or name=order").expect("values are not keywords");
        assert_eq!(q.any_of.len(), 2);
    }

    #[test]
    fn errors_point_at_the_problem() {
        assert_eq!(err_at("name"), (5, "expected =, !=, <, <=, > or >= after 'name'".into()));
        assert_eq!(err_at("name="), (6, "expected a value after 'name='".into()));
        assert_eq!(err_at("=web"), (1, "expected a condition such as name=value".into()));
        assert_eq!(err_at("name=a and"), (11, "expected a condition after 'and'".into()));
        assert_eq!(err_at("name=a or sortby name"), (11, "expected a condition after 'or'".into()));
        assert_eq!(err_at("and name=a"), (1, "'and' must follow a condition".into()));
        assert_eq!(err_at("name=\"web"), (6, "this quote is never closed".into()));
        assert_eq!(err_at("memory>1*"), (7, "wildcards work only with = and !=, not with >".into()));
        assert_eq!(err_at("name=a page 0"), (13, "page numbers start at 1".into()));
        assert_eq!(err_at("name=a page two"), (13, "expected a page number (1, 2, ...) after 'page'".into()));
        assert_eq!(err_at("name=a page 99999999999"), (13, "expected a page number (1, 2, ...) after 'page'".into()));
        assert_eq!(err_at("sortby"), (7, "expected a field name after 'sortby'".into()));
        assert_eq!(err_at("sortby name name=a").0, 13);
        assert_eq!(err_at("page 1 page 2"), (8, "'page' may appear only once".into()));
        assert_eq!(err_at("name=x\\"), (8, "a backslash must be followed by a character".into()));
        let err = parse_search("name").expect_err("fails");
        assert_eq!(err.kind(), oxvirt_types::ErrorKind::InvalidInput);
        assert_eq!(
            err.to_string(),
            "invalid search 'name' at character 5: expected =, !=, <, <=, > or >= after 'name'"
        );
    }
}
