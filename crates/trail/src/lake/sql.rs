//! CloudTrail Lake's query language: the SELECT subset of its SQL (Trino's
//! dialect) that questions about API activity need, parsed into a tree.
//!
//! `SELECT [DISTINCT] items FROM <event data store> [WHERE …] [GROUP BY …]
//! [HAVING …] [ORDER BY …] [LIMIT n]`, with column paths into the record
//! (`userIdentity.arn`, `requestParameters['userName']`), literals
//! (strings, numbers, booleans, `NULL`, `TIMESTAMP '…'`, `INTERVAL 'n'
//! unit`), operators (`AND OR NOT = <> != < <= > >= + - * / % ||`, `IS [NOT]
//! NULL`, `[NOT] LIKE`, `[NOT] IN (…)`, `[NOT] BETWEEN`, `CASE`, `CAST`),
//! aggregates (`count`, `sum`, `avg`, `min`, `max`, `approx_distinct`) and
//! the scalar functions `FUNCTIONS` lists. `?` placeholders take the
//! query's parameters, as string literals.
//!
//! Pure: no I/O. Hostile input is bounded: a statement is at most 10,000
//! characters (the model's limit) and expressions nest at most
//! `MAX_DEPTH` levels, so parsing cannot exhaust the stack.

use std::fmt;

/// How deeply expressions may nest.
const MAX_DEPTH: usize = 128;

/// Why a statement is not a query Rampart runs; the message is the
/// `InvalidQueryStatementException`'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SyntaxError(pub String);

fn fail<T>(message: impl Into<String>) -> Result<T, SyntaxError> {
    Err(SyntaxError(message.into()))
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Milliseconds since the epoch.
    Timestamp(i64),
    /// Milliseconds.
    Interval(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Concat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// `count(*)` when the argument is `None`.
    Count,
    Sum,
    Avg,
    Min,
    Max,
    /// Counted exactly.
    ApproxDistinct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    Varchar,
    Bigint,
    Double,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Literal),
    /// A path into the record, each part lowercased (Lake's names ignore case).
    Column(Vec<String>),
    Not(Box<Expr>),
    Negate(Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        negated: bool,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    Cast(Box<Expr>, SqlType),
    /// `map['key']` or `array[index]` (1-based).
    Subscript(Box<Expr>, Box<Expr>),
    Function {
        name: &'static str,
        args: Vec<Expr>,
    },
    Aggregate {
        function: Aggregate,
        arg: Option<Box<Expr>>,
        distinct: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// `*`: every member of the record.
    Wildcard,
    Expr {
        expr: Expr,
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    pub expr: Expr,
    pub descending: bool,
    /// SQL's default: nulls last ascending, first descending (Trino: last always).
    pub nulls_first: bool,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub distinct: bool,
    pub items: Vec<SelectItem>,
    /// The event data store as the FROM clause names it (its id or ARN).
    pub from: String,
    pub filter: Option<Expr>,
    pub group_by: Vec<Expr>,
    pub having: Option<Expr>,
    pub order_by: Vec<OrderItem>,
    pub limit: Option<u64>,
}

/// The scalar functions served, with how many arguments each takes.
pub const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("lower", 1, 1),
    ("upper", 1, 1),
    ("length", 1, 1),
    ("trim", 1, 1),
    ("substr", 2, 3),
    ("substring", 2, 3),
    ("strpos", 2, 2),
    ("starts_with", 2, 2),
    ("replace", 2, 3),
    ("split_part", 3, 3),
    ("concat", 1, 64),
    ("coalesce", 1, 64),
    ("nullif", 2, 2),
    ("if", 2, 3),
    ("element_at", 2, 2),
    ("cardinality", 1, 1),
    ("contains", 2, 2),
    ("json_extract_scalar", 2, 2),
    ("abs", 1, 1),
    ("round", 1, 2),
    ("now", 0, 0),
    ("current_timestamp", 0, 0),
    ("from_iso8601_timestamp", 1, 1),
    ("to_iso8601", 1, 1),
    ("date_trunc", 2, 2),
    ("date_add", 3, 3),
    ("date_diff", 3, 3),
    ("year", 1, 1),
    ("month", 1, 1),
    ("day", 1, 1),
    ("hour", 1, 1),
    ("minute", 1, 1),
];

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// An unquoted word, as written.
    Word(String),
    /// A `"quoted"` identifier.
    Quoted(String),
    Str(String),
    Number(String),
    /// The FROM clause's event data store (an id or an ARN, as written).
    Table(String),
    Symbol(&'static str),
    Param,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) | Token::Table(w) => write!(f, "{w}"),
            Token::Quoted(w) => write!(f, "\"{w}\""),
            Token::Str(s) => write!(f, "'{s}'"),
            Token::Number(n) => write!(f, "{n}"),
            Token::Symbol(s) => write!(f, "{s}"),
            Token::Param => write!(f, "?"),
        }
    }
}

const SYMBOLS: &[&str] =
    &["<>", "!=", "<=", ">=", "||", "(", ")", ",", ".", "*", "+", "-", "/", "%", "=", "<", ">", "[", "]", ";"];

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn lex(text: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut tokens = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if let Some(comment) = rest.strip_prefix("--") {
            rest = comment.split_once('\n').map_or("", |(_, after)| after);
            continue;
        }
        if let Some(comment) = rest.strip_prefix("/*") {
            let Some((_, after)) = comment.split_once("*/") else { return fail("A comment is not closed.") };
            rest = after;
            continue;
        }
        let Some(c) = rest.chars().next() else { break };
        let after_from = matches!(tokens.last(), Some(Token::Word(w)) if w.eq_ignore_ascii_case("from"));
        if after_from && c != '"' && c != '(' {
            // An event data store's id or ARN: letters, digits and `-:/._`.
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '/' | '.' | '_')))
                .unwrap_or(rest.len());
            if end == 0 {
                return fail(format!("An event data store is expected after FROM, not '{c}'."));
            }
            tokens.push(Token::Table(rest[..end].to_string()));
            rest = &rest[end..];
        } else if c == '\'' || c == '"' {
            // Quotes are escaped by doubling them.
            let mut value = String::new();
            let mut chars = rest.char_indices().skip(1);
            let end = loop {
                match chars.next() {
                    Some((i, q)) if q == c => {
                        if rest[i + 1..].starts_with(c) {
                            value.push(c);
                            chars.next();
                        } else {
                            break i + 1;
                        }
                    }
                    Some((_, other)) => value.push(other),
                    None => return fail("A quoted string or name is not closed."),
                }
            };
            tokens.push(match (c, after_from) {
                ('"', true) => Token::Table(value),
                ('"', false) => Token::Quoted(value),
                _ => Token::Str(value),
            });
            rest = &rest[end..];
        } else if c.is_ascii_digit() || (c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit())) {
            let end =
                rest.find(|d: char| !(d.is_ascii_digit() || d == '.' || d == 'e' || d == 'E')).unwrap_or(rest.len());
            tokens.push(Token::Number(rest[..end].to_string()));
            rest = &rest[end..];
        } else if is_word_char(c) {
            let end = rest.find(|d: char| !is_word_char(d)).unwrap_or(rest.len());
            tokens.push(Token::Word(rest[..end].to_string()));
            rest = &rest[end..];
        } else if c == '?' {
            tokens.push(Token::Param);
            rest = &rest[1..];
        } else if let Some(symbol) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            tokens.push(Token::Symbol(symbol));
            rest = &rest[symbol.len()..];
        } else {
            return fail(format!("Unexpected character '{c}'."));
        }
    }
    Ok(tokens)
}

/// Words that end an expression or a name: never a column or an alias.
const RESERVED: &[&str] = &[
    "select",
    "from",
    "where",
    "group",
    "by",
    "having",
    "order",
    "limit",
    "and",
    "or",
    "not",
    "is",
    "null",
    "like",
    "in",
    "between",
    "case",
    "when",
    "then",
    "else",
    "end",
    "as",
    "asc",
    "desc",
    "distinct",
    "on",
    "join",
    "union",
    "with",
    "nulls",
    "true",
    "false",
    "escape",
    "cast",
    "interval",
    "timestamp",
    "inner",
    "left",
    "right",
    "full",
    "cross",
    "outer",
    "offset",
    "except",
    "intersect",
    "all",
];

struct Parser<'p> {
    tokens: Vec<Token>,
    at: usize,
    params: &'p [String],
    used_params: usize,
    depth: usize,
    unnamed: usize,
}

/// Parses a statement, placing `params` at its `?`s in order.
pub fn parse(statement: &str, params: &[String]) -> Result<Query, SyntaxError> {
    if statement.chars().count() > 10_000 {
        return fail("The query statement is longer than 10,000 characters.");
    }
    let mut parser = Parser { tokens: lex(statement)?, at: 0, params, used_params: 0, depth: 0, unnamed: 0 };
    let query = parser.query()?;
    parser.eat_symbol(";");
    if let Some(extra) = parser.peek() {
        return fail(format!("Unexpected '{extra}' after the query: only one SELECT statement is run."));
    }
    if parser.used_params != params.len() {
        return fail(format!(
            "The query has {} parameter placeholders but {} query parameters were given.",
            parser.used_params,
            params.len()
        ));
    }
    Ok(query)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn peek_keyword_at(&self, offset: usize, keyword: &str) -> bool {
        matches!(self.tokens.get(self.at + offset), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.peek_keyword(keyword);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), SyntaxError> {
        match self.eat_keyword(keyword) {
            true => Ok(()),
            false => fail(format!("Expected {} {}.", keyword.to_uppercase(), self.found())),
        }
    }

    fn eat_symbol(&mut self, symbol: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Symbol(s)) if *s == symbol);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect_symbol(&mut self, symbol: &str) -> Result<(), SyntaxError> {
        match self.eat_symbol(symbol) {
            true => Ok(()),
            false => fail(format!("Expected '{symbol}' {}.", self.found())),
        }
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(token) => format!("but found '{token}'"),
            None => "but the query ended".to_string(),
        }
    }

    fn query(&mut self) -> Result<Query, SyntaxError> {
        if self.peek_keyword("with") {
            return fail("WITH clauses are not supported: write one SELECT statement.");
        }
        if !self.eat_keyword("select") {
            return fail("Only SELECT statements are supported.");
        }
        let distinct = self.eat_keyword("distinct");
        if !distinct {
            self.eat_keyword("all");
        }
        let mut items = Vec::new();
        loop {
            items.push(self.select_item()?);
            if !self.eat_symbol(",") {
                break;
            }
        }
        self.expect_keyword("from")?;
        let from = match self.next() {
            Some(Token::Table(name)) => name,
            Some(Token::Symbol("(")) => return fail("Subqueries are not supported."),
            _ => return fail("An event data store is expected after FROM."),
        };
        if self.eat_symbol(",")
            || ["join", "inner", "left", "right", "full", "cross"].iter().any(|k| self.peek_keyword(k))
        {
            return fail("Joins are not supported: a query reads one event data store.");
        }
        // An optional alias for the event data store.
        self.eat_keyword("as");
        if matches!(self.peek(), Some(Token::Word(w)) if !is_reserved(w)) {
            self.at += 1;
        }
        let filter = if self.eat_keyword("where") { Some(self.expr()?) } else { None };
        let mut group_by = Vec::new();
        if self.eat_keyword("group") {
            self.expect_keyword("by")?;
            loop {
                group_by.push(self.expr()?);
                if !self.eat_symbol(",") {
                    break;
                }
            }
        }
        let having = if self.eat_keyword("having") { Some(self.expr()?) } else { None };
        let mut order_by = Vec::new();
        if self.eat_keyword("order") {
            self.expect_keyword("by")?;
            loop {
                let expr = self.expr()?;
                let descending = if self.eat_keyword("desc") {
                    true
                } else {
                    self.eat_keyword("asc");
                    false
                };
                let nulls_first = if self.eat_keyword("nulls") {
                    if self.eat_keyword("first") {
                        true
                    } else {
                        self.expect_keyword("last")?;
                        false
                    }
                } else {
                    false
                };
                order_by.push(OrderItem { expr, descending, nulls_first });
                if !self.eat_symbol(",") {
                    break;
                }
            }
        }
        let limit = if self.eat_keyword("limit") {
            match self.next() {
                Some(Token::Number(n)) => {
                    Some(n.parse::<u64>().or_else(|_| fail(format!("LIMIT {n} is not a count.")))?)
                }
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("all") => None,
                _ => return fail("LIMIT takes a count."),
            }
        } else {
            None
        };
        for clause in ["union", "except", "intersect"] {
            if self.peek_keyword(clause) {
                return fail(format!("{} is not supported: write one SELECT statement.", clause.to_uppercase()));
            }
        }
        if self.peek_keyword("offset") {
            return fail("OFFSET is not supported: page through the results with NextToken.");
        }
        Ok(Query { distinct, items, from, filter, group_by, having, order_by, limit })
    }

    fn select_item(&mut self) -> Result<SelectItem, SyntaxError> {
        if self.eat_symbol("*") {
            return Ok(SelectItem::Wildcard);
        }
        let start = self.at;
        let expr = self.expr()?;
        let alias = if self.eat_keyword("as") {
            Some(self.name()?)
        } else {
            match self.peek() {
                Some(Token::Word(w)) if !is_reserved(w) => Some(self.name()?),
                Some(Token::Quoted(_)) => Some(self.name()?),
                _ => None,
            }
        };
        let name = match alias {
            Some(alias) => alias,
            // A column is named by its last part as written; anything
            // else as Trino names it, `_col` and its position.
            None => match (&expr, self.tokens.get(self.at - 1)) {
                (Expr::Column(_), Some(Token::Word(w) | Token::Quoted(w))) if self.at > start => w.clone(),
                _ => {
                    let name = format!("_col{}", self.unnamed);
                    self.unnamed += 1;
                    name
                }
            },
        };
        Ok(SelectItem::Expr { expr, name })
    }

    fn name(&mut self) -> Result<String, SyntaxError> {
        match self.next() {
            Some(Token::Word(w)) if !is_reserved(&w) => Ok(w),
            Some(Token::Quoted(q)) => Ok(q),
            Some(other) => fail(format!("Expected a name but found '{other}'.")),
            None => fail("Expected a name but the query ended."),
        }
    }

    /// One level deeper into the tree, refused past `MAX_DEPTH`: every
    /// parenthesis, prefix operator and operator of a chain (a chain
    /// `1 + 1 + …` is a left-deep tree) is a level, so no statement makes a
    /// tree that exhausts the stack when it is parsed, checked, run or dropped.
    fn descend(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        match self.depth > MAX_DEPTH {
            true => fail(format!("Expressions nest more than {MAX_DEPTH} levels deep.")),
            false => Ok(()),
        }
    }

    fn expr(&mut self) -> Result<Expr, SyntaxError> {
        let base = self.depth;
        self.descend()?;
        let expr = self.or()?;
        self.depth = base;
        Ok(expr)
    }

    fn or(&mut self) -> Result<Expr, SyntaxError> {
        let base = self.depth;
        let mut left = self.and()?;
        while self.eat_keyword("or") {
            self.descend()?;
            left = Expr::Binary(BinaryOp::Or, Box::new(left), Box::new(self.and()?));
        }
        self.depth = base;
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, SyntaxError> {
        let base = self.depth;
        let mut left = self.not()?;
        while self.eat_keyword("and") {
            self.descend()?;
            left = Expr::Binary(BinaryOp::And, Box::new(left), Box::new(self.not()?));
        }
        self.depth = base;
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, SyntaxError> {
        if self.eat_keyword("not") {
            let base = self.depth;
            self.descend()?;
            let inner = self.not()?;
            self.depth = base;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, SyntaxError> {
        let left = self.additive()?;
        if self.eat_keyword("is") {
            let negated = self.eat_keyword("not");
            self.expect_keyword("null")?;
            return Ok(Expr::IsNull { expr: Box::new(left), negated });
        }
        let negated = if self.peek_keyword("not")
            && (self.peek_keyword_at(1, "like") || self.peek_keyword_at(1, "in") || self.peek_keyword_at(1, "between"))
        {
            self.at += 1;
            true
        } else {
            false
        };
        if self.eat_keyword("like") {
            let pattern = self.additive()?;
            if self.eat_keyword("escape") {
                return fail("LIKE … ESCAPE is not supported.");
            }
            return Ok(Expr::Like { expr: Box::new(left), pattern: Box::new(pattern), negated });
        }
        if self.eat_keyword("in") {
            self.expect_symbol("(")?;
            if self.peek_keyword("select") {
                return fail("Subqueries are not supported.");
            }
            let mut list = Vec::new();
            loop {
                list.push(self.expr()?);
                if !self.eat_symbol(",") {
                    break;
                }
            }
            self.expect_symbol(")")?;
            return Ok(Expr::InList { expr: Box::new(left), list, negated });
        }
        if self.eat_keyword("between") {
            let low = self.additive()?;
            self.expect_keyword("and")?;
            let high = self.additive()?;
            return Ok(Expr::Between { expr: Box::new(left), low: Box::new(low), high: Box::new(high), negated });
        }
        if negated {
            return fail("Expected LIKE, IN or BETWEEN after NOT.");
        }
        let op = match self.peek() {
            Some(Token::Symbol("=")) => BinaryOp::Eq,
            Some(Token::Symbol("<>" | "!=")) => BinaryOp::Ne,
            Some(Token::Symbol("<")) => BinaryOp::Lt,
            Some(Token::Symbol("<=")) => BinaryOp::Le,
            Some(Token::Symbol(">")) => BinaryOp::Gt,
            Some(Token::Symbol(">=")) => BinaryOp::Ge,
            _ => return Ok(left),
        };
        self.at += 1;
        let right = self.additive()?;
        Ok(Expr::Binary(op, Box::new(left), Box::new(right)))
    }

    fn additive(&mut self) -> Result<Expr, SyntaxError> {
        let base = self.depth;
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                Some(Token::Symbol("+")) => BinaryOp::Add,
                Some(Token::Symbol("-")) => BinaryOp::Sub,
                Some(Token::Symbol("||")) => BinaryOp::Concat,
                _ => break,
            };
            self.at += 1;
            self.descend()?;
            left = Expr::Binary(op, Box::new(left), Box::new(self.multiplicative()?));
        }
        self.depth = base;
        Ok(left)
    }

    fn multiplicative(&mut self) -> Result<Expr, SyntaxError> {
        let base = self.depth;
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Token::Symbol("*")) => BinaryOp::Mul,
                Some(Token::Symbol("/")) => BinaryOp::Div,
                Some(Token::Symbol("%")) => BinaryOp::Mod,
                _ => break,
            };
            self.at += 1;
            self.descend()?;
            left = Expr::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
        self.depth = base;
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        let base = self.depth;
        if self.eat_symbol("-") {
            // A negative literal is one number (so i64::MIN is a whole number).
            if let Some(Token::Number(n)) = self.peek() {
                if let Ok(value) = format!("-{n}").parse::<i64>() {
                    self.at += 1;
                    return Ok(Expr::Literal(Literal::Int(value)));
                }
            }
            self.descend()?;
            let inner = self.unary()?;
            self.depth = base;
            return Ok(Expr::Negate(Box::new(inner)));
        }
        if self.eat_symbol("+") {
            self.descend()?;
            let inner = self.unary()?;
            self.depth = base;
            return Ok(inner);
        }
        let mut expr = self.primary()?;
        loop {
            self.descend()?;
            if self.eat_symbol("[") {
                let index = self.expr()?;
                self.expect_symbol("]")?;
                expr = Expr::Subscript(Box::new(expr), Box::new(index));
            } else if matches!(self.peek(), Some(Token::Symbol("."))) && !matches!(expr, Expr::Column(_)) {
                self.at += 1;
                let field = self.name()?;
                expr = Expr::Subscript(Box::new(expr), Box::new(Expr::Literal(Literal::Str(field))));
            } else {
                self.depth = base;
                return Ok(expr);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        match self.next() {
            Some(Token::Number(n)) => number(&n),
            Some(Token::Str(s)) => Ok(Expr::Literal(Literal::Str(s))),
            Some(Token::Param) => {
                let Some(value) = self.params.get(self.used_params) else {
                    return fail("The query has more parameter placeholders than query parameters.");
                };
                self.used_params += 1;
                Ok(Expr::Literal(Literal::Str(value.clone())))
            }
            Some(Token::Symbol("(")) => {
                if self.peek_keyword("select") {
                    return fail("Subqueries are not supported.");
                }
                let inner = self.expr()?;
                self.expect_symbol(")")?;
                Ok(inner)
            }
            Some(Token::Quoted(name)) => self.column(name.to_ascii_lowercase()),
            Some(Token::Word(word)) => self.word(word),
            Some(other) => fail(format!("Unexpected '{other}'.")),
            None => fail("The query ended where an expression was expected."),
        }
    }

    fn word(&mut self, word: String) -> Result<Expr, SyntaxError> {
        let lower = word.to_ascii_lowercase();
        match lower.as_str() {
            "null" => return Ok(Expr::Literal(Literal::Null)),
            "true" => return Ok(Expr::Literal(Literal::Bool(true))),
            "false" => return Ok(Expr::Literal(Literal::Bool(false))),
            "current_timestamp" if !matches!(self.peek(), Some(Token::Symbol("("))) => {
                return Ok(Expr::Function { name: "now", args: Vec::new() })
            }
            "timestamp" => {
                let Some(Token::Str(text)) = self.next() else { return fail("TIMESTAMP takes a quoted time.") };
                return match parse_timestamp(&text) {
                    Some(ms) => Ok(Expr::Literal(Literal::Timestamp(ms))),
                    None => fail(format!("'{text}' is not a timestamp.")),
                };
            }
            "interval" => return self.interval(),
            "case" => return self.case(),
            "cast" | "try_cast" => {
                self.expect_symbol("(")?;
                let inner = self.expr()?;
                self.expect_keyword("as")?;
                let type_name = self.name()?.to_ascii_lowercase();
                let to = match type_name.as_str() {
                    "varchar" | "string" | "char" => SqlType::Varchar,
                    "bigint" | "integer" | "int" | "smallint" | "tinyint" => SqlType::Bigint,
                    "double" | "real" | "decimal" => SqlType::Double,
                    "boolean" => SqlType::Boolean,
                    "timestamp" => SqlType::Timestamp,
                    other => return fail(format!("Unknown type: {other}.")),
                };
                if self.eat_symbol("(") {
                    // varchar(n), decimal(p, s): the size does not matter here.
                    while !self.eat_symbol(")") {
                        if self.next().is_none() {
                            return fail("A type's size is not closed.");
                        }
                    }
                }
                self.expect_symbol(")")?;
                return Ok(Expr::Cast(Box::new(inner), to));
            }
            _ => {}
        }
        if is_reserved(&lower) {
            return fail(format!("Unexpected keyword {}.", word.to_uppercase()));
        }
        if self.eat_symbol("(") {
            return self.call(lower);
        }
        self.column(lower)
    }

    fn column(&mut self, first: String) -> Result<Expr, SyntaxError> {
        let mut path = vec![first];
        while self.eat_symbol(".") {
            path.push(self.name()?.to_ascii_lowercase());
            if path.len() > 16 {
                return fail("A column path has more than 16 parts.");
            }
        }
        Ok(Expr::Column(path))
    }

    fn call(&mut self, name: String) -> Result<Expr, SyntaxError> {
        let aggregate = match name.as_str() {
            "count" => Some(Aggregate::Count),
            "sum" => Some(Aggregate::Sum),
            "avg" => Some(Aggregate::Avg),
            "min" => Some(Aggregate::Min),
            "max" => Some(Aggregate::Max),
            "approx_distinct" => Some(Aggregate::ApproxDistinct),
            _ => None,
        };
        if let Some(function) = aggregate {
            if function == Aggregate::Count && self.eat_symbol("*") {
                self.expect_symbol(")")?;
                return Ok(Expr::Aggregate { function, arg: None, distinct: false });
            }
            let distinct = self.eat_keyword("distinct");
            let arg = self.expr()?;
            self.expect_symbol(")")?;
            return Ok(Expr::Aggregate { function, arg: Some(Box::new(arg)), distinct });
        }
        let Some(&(known, min, max)) = FUNCTIONS.iter().find(|(f, _, _)| *f == name) else {
            return fail(format!("Function '{name}' not registered."));
        };
        let mut args = Vec::new();
        if !self.eat_symbol(")") {
            loop {
                // date_trunc('day', …), date_add('hour', …): units are strings.
                args.push(self.expr()?);
                if !self.eat_symbol(",") {
                    break;
                }
            }
            self.expect_symbol(")")?;
        }
        if args.len() < min || args.len() > max {
            return fail(format!("Function '{name}' takes {min} to {max} arguments, not {}.", args.len()));
        }
        Ok(Expr::Function { name: known, args })
    }

    fn interval(&mut self) -> Result<Expr, SyntaxError> {
        let negative = self.eat_symbol("-");
        let amount = match self.next() {
            Some(Token::Str(text)) | Some(Token::Number(text)) => text.trim().parse::<i64>().ok(),
            _ => None,
        };
        let Some(amount) = amount else { return fail("INTERVAL takes a whole number, such as INTERVAL '1' DAY.") };
        let unit = self.name()?;
        let Some(unit_ms) = unit_millis(&unit.to_ascii_lowercase()) else {
            return fail(format!("INTERVAL unit {unit} is not supported (second, minute, hour, day or week)."));
        };
        let too_long = || SyntaxError("The interval is too long.".into());
        let ms = amount.checked_mul(unit_ms).ok_or_else(too_long)?;
        let ms = if negative { ms.checked_neg().ok_or_else(too_long)? } else { ms };
        Ok(Expr::Literal(Literal::Interval(ms)))
    }

    fn case(&mut self) -> Result<Expr, SyntaxError> {
        let operand = if self.peek_keyword("when") { None } else { Some(Box::new(self.expr()?)) };
        let mut whens = Vec::new();
        while self.eat_keyword("when") {
            let condition = self.expr()?;
            self.expect_keyword("then")?;
            whens.push((condition, self.expr()?));
        }
        if whens.is_empty() {
            return fail("CASE needs at least one WHEN.");
        }
        let otherwise = if self.eat_keyword("else") { Some(Box::new(self.expr()?)) } else { None };
        self.expect_keyword("end")?;
        Ok(Expr::Case { operand, whens, otherwise })
    }
}

fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

fn number(text: &str) -> Result<Expr, SyntaxError> {
    if let Ok(n) = text.parse::<i64>() {
        return Ok(Expr::Literal(Literal::Int(n)));
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(Expr::Literal(Literal::Float(f))),
        _ => fail(format!("{text} is not a number.")),
    }
}

/// A time unit's length in milliseconds (`second` … `week`, singular or plural).
pub fn unit_millis(unit: &str) -> Option<i64> {
    Some(match unit.strip_suffix('s').unwrap_or(unit) {
        "millisecond" => 1,
        "second" => 1_000,
        "minute" => 60_000,
        "hour" => 3_600_000,
        "day" => 86_400_000,
        "week" => 7 * 86_400_000,
        _ => return None,
    })
}

/// Reads a time as Lake writes them (`2024-05-01 12:30:00.000`) or in ISO
/// 8601 (`2024-05-01T12:30:00Z`); a date alone is its midnight, UTC.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, clock) = match text.split_once([' ', 'T']) {
        Some((date, clock)) => (date, clock.trim_end_matches('Z')),
        None => (text, "00:00:00"),
    };
    // Unsigned digits only: no sign, so no field can overflow what follows.
    let digits = |part: &str, most: usize| -> Option<u32> {
        (!part.is_empty() && part.len() <= most && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse().ok())?
    };
    let mut d = date.splitn(3, '-');
    let (year, month, day) = (digits(d.next()?, 4)?, digits(d.next()?, 2)?, digits(d.next()?, 2)?);
    let (clock, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut c = clock.splitn(3, ':');
    let (hour, minute) = (digits(c.next()?, 2)?, digits(c.next()?, 2)?);
    let second = match c.next() {
        Some(s) => digits(s, 2)?,
        None => 0,
    };
    let millis = match fraction {
        "" => 0,
        f if f.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{:0<3}", f.get(..f.len().min(3))?).parse::<i64>().ok()?
        }
        _ => return None,
    };
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let days = i64::from(date.to_julian_day()) - 2_440_588;
    let (hour, minute, second) = (i64::from(hour), i64::from(minute), i64::from(second));
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn col(path: &str) -> Expr {
        Expr::Column(path.split('.').map(str::to_string).collect())
    }

    fn s(text: &str) -> Expr {
        Expr::Literal(Literal::Str(text.into()))
    }

    #[test]
    fn the_who_denied_whom_query_parses() {
        let q = parse(
            "SELECT userIdentity.arn AS caller, errorCode, count(*) AS denials
             FROM 0f5fd2b5-8e11-4b2e-9a6c-1f0d2e3c4b5a
             WHERE errorCode IN ('AccessDenied', 'AccessDeniedException')
               AND eventTime > now() - interval '24' hour
             GROUP BY userIdentity.arn, errorCode
             ORDER BY denials DESC LIMIT 10",
            &[],
        )
        .unwrap();
        assert_eq!(q.from, "0f5fd2b5-8e11-4b2e-9a6c-1f0d2e3c4b5a");
        assert_eq!(q.group_by, vec![col("useridentity.arn"), col("errorcode")]);
        assert_eq!(q.limit, Some(10));
        let names: Vec<_> = q
            .items
            .iter()
            .map(|i| match i {
                SelectItem::Expr { name, .. } => name.as_str(),
                SelectItem::Wildcard => "*",
            })
            .collect();
        assert_eq!(names, ["caller", "errorCode", "denials"]);
        assert!(q.order_by[0].descending);
    }

    #[test]
    fn precedence_follows_sql() {
        let q = parse("select a from eds where a = 1 or b = 2 and not c = 3", &[]).unwrap();
        let Some(Expr::Binary(BinaryOp::Or, _, right)) = q.filter else { panic!("OR is loosest") };
        assert!(matches!(*right, Expr::Binary(BinaryOp::And, _, _)));
        let q = parse("select 1 + 2 * 3 from eds", &[]).unwrap();
        let SelectItem::Expr { expr: Expr::Binary(BinaryOp::Add, _, right), .. } = &q.items[0] else { panic!() };
        assert!(matches!(**right, Expr::Binary(BinaryOp::Mul, _, _)));
    }

    #[test]
    fn from_takes_ids_and_arns_and_params_fill_placeholders() {
        let arn = "arn:aws:cloudtrail:us-east-1:123456789012:eventdatastore/EXAMPLE-f852-4e8f";
        assert_eq!(parse(&format!("SELECT * FROM {arn}"), &[]).unwrap().from, arn);
        assert_eq!(parse(&format!("SELECT * FROM \"{arn}\" t;"), &[]).unwrap().from, arn);
        let q = parse("select eventName from eds where eventName = ? and awsRegion = ?", &["A".into(), "B".into()])
            .unwrap();
        let Some(Expr::Binary(BinaryOp::And, left, _)) = q.filter else { panic!() };
        assert_eq!(*left, Expr::Binary(BinaryOp::Eq, Box::new(col("eventname")), Box::new(s("A"))));
        assert!(parse("select 1 from eds where a = ?", &[]).is_err());
        assert!(parse("select 1 from eds", &["unused".into()]).is_err());
    }

    #[test]
    fn strings_escape_quotes_by_doubling_and_comments_are_skipped() {
        let q = parse("select 'it''s' -- a comment\n from /* here */ eds", &[]).unwrap();
        assert_eq!(q.items[0], SelectItem::Expr { expr: s("it's"), name: "_col0".into() });
    }

    #[test]
    fn subscripts_and_calls() {
        let q = parse("select element_at(requestParameters, 'userName'), requestParameters['roleName'] from eds", &[])
            .unwrap();
        let SelectItem::Expr { expr: Expr::Function { name: "element_at", .. }, .. } = &q.items[0] else { panic!() };
        let SelectItem::Expr { expr: Expr::Subscript(_, key), .. } = &q.items[1] else { panic!() };
        assert_eq!(**key, s("roleName"));
    }

    #[test]
    fn what_is_not_a_single_select_is_refused() {
        for bad in [
            "DELETE FROM eds",
            "DROP TABLE eds",
            "select * from eds; select * from eds",
            "select * from a join b on a.x = b.x",
            "select * from a, b",
            "select * from (select * from eds)",
            "select * from eds where x in (select 1 from eds)",
            "select * from eds union select * from eds",
            "with t as (select 1) select * from t",
            "select nosuch(1) from eds",
            "select lower() from eds",
            "select 'open from eds",
            "select \"open from eds",
            "select /* open from eds",
            "select * from",
            "select * from eds limit -1",
            "select * from eds where",
            "select * from eds where a not = 1",
            "select interval '1' month from eds",
            "select timestamp 'yesterday' from eds",
            "select 1e999 from eds",
            "select cast(a as blob) from eds",
            "select from eds",
            "select a from eds where a = 1 =",
        ] {
            assert!(parse(bad, &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn nesting_and_length_are_bounded() {
        let deep = format!("select {}1{} from eds", "(".repeat(10_000 / 2 - 20), ")".repeat(10_000 / 2 - 20));
        assert!(parse(&deep, &[]).is_err());
        let nots = format!("select 1 from eds where {} a", "not ".repeat(2_000));
        assert!(parse(&nots, &[]).is_err());
        for sign in ["-", "+", "- "] {
            assert!(parse(&format!("select {}1 from eds", sign.repeat(3_000)), &[]).is_err());
        }
        assert!(parse(&format!("select '{}' from eds", "x".repeat(10_001)), &[]).is_err());
        assert!(parse("select (((((1))))) from eds", &[]).is_ok());
    }

    #[test]
    fn timestamps_read_lake_and_iso_forms() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_timestamp("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_timestamp("2024-02-29 12:00:00.5"), Some(1_709_208_000_500));
        assert_eq!(parse_timestamp("2023-02-29 12:00:00"), None);
        assert_eq!(parse_timestamp("2024-13-01 00:00:00"), None);
        assert_eq!(parse_timestamp("now"), None);
    }
}
