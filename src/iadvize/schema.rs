//! Which query shape the account offers, and the query text for it.
//!
//! iAdvize documents two ways to list closed conversations (see the spec's
//! `schema.graphql`). At start-up the client reads the live schema by introspection,
//! picks a shape, checks that every field the exporter reads exists with a usable type,
//! and writes the query with only the optional fields the schema has.

use std::collections::HashMap;

use super::json::{self, Json};
use super::model::QueryShape;
use super::{Error, QueryChoice};

/// The query the poller sends, as decided at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPlan {
    pub shape: QueryShape,
    /// The GraphQL document, with variables `$from`, `$to`, `$first`, `$after`, `$projectIds`.
    pub query: String,
    /// Whether the query asks for `tags { name }`.
    pub tags: bool,
    /// What the account's schema made the exporter do without, and what it does
    /// instead, for `check` to say.
    pub fallbacks: Vec<String>,
}

/// The query as documented, for when the schema cannot be asked; with `tags`, it asks
/// for the conversations' tags.
pub fn fixed_plan(shape: QueryShape, tags: bool) -> QueryPlan {
    let options = QueryOptions {
        tags,
        ..QueryOptions::documented()
    };
    QueryPlan {
        shape,
        query: build_query(shape, &options),
        tags,
        fallbacks: Vec::new(),
    }
}

/// The introspection query whose answer [`plan_from_introspection`] reads: every type's
/// fields, arguments and input fields, without descriptions, to keep the answer small.
pub fn introspection_query() -> &'static str {
    r#"query ExporterIntrospection {
  __schema {
    queryType { name }
    types {
      kind
      name
      fields(includeDeprecated: true) {
        name
        isDeprecated
        args { name type { ...TypeRef } }
        type { ...TypeRef }
      }
      inputFields { name type { ...TypeRef } }
    }
  }
}
fragment TypeRef on __Type {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }
}
"#
}

/// The plan for the schema an introspection answer describes.
///
/// With [`QueryChoice::Auto`], a shape that is not deprecated wins; between equals,
/// `searchClosedConversations`, because iAdvize's help-centre article documents it with
/// its arguments, while `closedConversations`' argument layout is only inferred. When the
/// preferred shape lacks a field, the other is tried. With [`QueryChoice::Fixed`] only
/// that shape is checked. [`Error::Schema`] names every missing or ill-typed
/// `Type.field`.
///
/// With `tags`, the query asks for `tags { name }` when the schema offers it; a schema
/// without it (or with another type) only leaves it out: see [`QueryPlan::tags`].
pub fn plan_from_introspection(
    body: &[u8],
    choice: QueryChoice,
    tags: bool,
) -> Result<QueryPlan, Error> {
    let schema = Schema::from_introspection(body)?;
    let check = |shape| {
        check_shape(&schema, shape, tags).map(|options| QueryPlan {
            shape,
            query: build_query(shape, &options),
            tags: options.tags,
            fallbacks: options.fallbacks(),
        })
    };
    match choice {
        QueryChoice::Fixed(shape) => check(shape).map_err(|problems| {
            Error::Schema(format!("{}: {}", shape.field_name(), problems.join("; ")))
        }),
        QueryChoice::Auto => {
            let mut shapes = [
                QueryShape::SearchClosedConversations,
                QueryShape::ClosedConversations,
            ];
            // A stable sort keeps the documented preference between equals.
            shapes.sort_by_key(|shape| schema.is_deprecated_query(shape.field_name()));
            let mut all_problems = Vec::new();
            for shape in shapes {
                match check(shape) {
                    Ok(mut plan) => {
                        for problem in &all_problems {
                            plan.fallbacks.insert(
                                0,
                                format!("{problem}: reading {} instead", shape.field_name()),
                            );
                        }
                        return Ok(plan);
                    }
                    Err(problems) => all_problems.push(format!(
                        "{}: {}",
                        shape.field_name(),
                        problems.join("; ")
                    )),
                }
            }
            Err(Error::Schema(all_problems.join(" / ")))
        }
    }
}

/// What the query asks for beyond the fixed core, and the variable types.
#[derive(Debug, Clone, PartialEq, Eq)]
struct QueryOptions {
    channel: bool,
    duration: bool,
    project_name: bool,
    tags: bool,
    transaction_id: bool,
    from_type: String,
    to_type: String,
    first_type: String,
    after_type: String,
    project_ids_type: String,
}

impl QueryOptions {
    /// The optional fields left out, each with what is done without it.
    fn fallbacks(&self) -> Vec<String> {
        [
            (
                self.channel,
                "no Conversation.channel: every conversation has channel unknown",
            ),
            (
                self.duration,
                "no Conversation.duration: durations are closedAt - createdAt",
            ),
            (
                self.project_name,
                "no Project.name: iadvize_project_info shows empty names",
            ),
            (
                self.transaction_id,
                "no Transaction.id: transactions are told apart by externalConversionId",
            ),
        ]
        .into_iter()
        .filter(|(offered, _)| !offered)
        .map(|(_, note)| note.to_owned())
        .collect()
    }

    fn documented() -> Self {
        QueryOptions {
            channel: true,
            duration: true,
            project_name: true,
            tags: false,
            transaction_id: true,
            from_type: "DateTime!".to_owned(),
            to_type: "DateTime!".to_owned(),
            first_type: "Int".to_owned(),
            after_type: "String".to_owned(),
            project_ids_type: "[Int!]".to_owned(),
        }
    }
}

fn build_query(shape: QueryShape, options: &QueryOptions) -> String {
    let conversation_fields = format!(
        "id createdAt closedAt{}{} project {{ id{} }}{}",
        if options.channel { " channel" } else { "" },
        if options.duration { " duration" } else { "" },
        if options.project_name { " name" } else { "" },
        if options.tags { " tags { name }" } else { "" },
    );
    let survey_and_conversions = format!(
        "satisfactionSurvey {{ customerSatisfaction netPromoterScore }} \
         conversions {{ transactions {{ {}amount currency externalConversionId }} }}",
        if options.transaction_id { "id " } else { "" },
    );
    let (arguments, node) = match shape {
        QueryShape::SearchClosedConversations => (
            "filters: {projectIds: $projectIds}, interval: {from: $from, to: $to}, \
             first: $first, after: $after",
            format!("conversation {{ {conversation_fields} }} {survey_and_conversions}"),
        ),
        QueryShape::ClosedConversations => (
            "filters: {interval: {from: $from, to: $to}, projectIds: $projectIds}, \
             first: $first, after: $after",
            format!("{conversation_fields} {survey_and_conversions}"),
        ),
    };
    format!(
        "query ExporterClosedConversations($from: {from}, $to: {to}, $first: {first}, \
         $after: {after}, $projectIds: {project_ids}) {{\n  \
         {field}({arguments}) {{\n    \
         edges {{ node {{ {node} }} }}\n    \
         pageInfo {{ hasNextPage endCursor }}\n  \
         }}\n}}\n",
        from = options.from_type,
        to = options.to_type,
        first = options.first_type,
        after = options.after_type,
        project_ids = options.project_ids_type,
        field = shape.field_name(),
    )
}

/// A type reference of the introspection answer (`NON_NULL` / `LIST` wrappers around a
/// named type).
#[derive(Debug, Clone, PartialEq)]
enum TypeRef {
    NonNull(Box<TypeRef>),
    List(Box<TypeRef>),
    Named { kind: String, name: String },
}

impl TypeRef {
    fn from_json(json: &Json<'_>) -> Option<TypeRef> {
        let kind = json.get("kind")?.as_str()?;
        match kind {
            "NON_NULL" => Some(TypeRef::NonNull(Box::new(Self::from_json(
                json.get("ofType")?,
            )?))),
            "LIST" => Some(TypeRef::List(Box::new(Self::from_json(
                json.get("ofType")?,
            )?))),
            _ => Some(TypeRef::Named {
                kind: kind.to_owned(),
                name: json.get("name")?.as_str()?.to_owned(),
            }),
        }
    }

    /// The named type at the core, and whether a list wraps it.
    fn core(&self) -> (&str, &str, bool) {
        match self {
            TypeRef::NonNull(inner) => inner.core(),
            TypeRef::List(inner) => {
                let (kind, name, _) = inner.core();
                (kind, name, true)
            }
            TypeRef::Named { kind, name } => (kind, name, false),
        }
    }

    /// GraphQL syntax, for a variable declaration.
    fn render(&self) -> String {
        match self {
            TypeRef::NonNull(inner) => format!("{}!", inner.render()),
            TypeRef::List(inner) => format!("[{}]", inner.render()),
            TypeRef::Named { name, .. } => name.clone(),
        }
    }
}

#[derive(Debug)]
struct Field {
    ty: TypeRef,
    args: HashMap<String, TypeRef>,
    deprecated: bool,
}

#[derive(Debug, Default)]
struct SchemaType {
    fields: HashMap<String, Field>,
    input_fields: HashMap<String, TypeRef>,
}

/// The parts of an introspection answer the checks read.
#[derive(Debug)]
struct Schema {
    query_type: String,
    types: HashMap<String, SchemaType>,
}

impl Schema {
    fn from_introspection(body: &[u8]) -> Result<Schema, Error> {
        let root: Json<'_> = serde_json::from_slice(body).map_err(|e| {
            Error::InvalidResponse(format!("introspection answer is not JSON: {e}"))
        })?;
        json::check_graphql_errors(body)?;
        let invalid = |what: &str| Error::InvalidResponse(format!("introspection answer: {what}"));
        let schema = root
            .get("data")
            .and_then(|data| data.get("__schema"))
            .ok_or_else(|| invalid("no data.__schema"))?;
        let query_type = schema
            .get("queryType")
            .and_then(|query_type| query_type.get("name"))
            .and_then(Json::as_str)
            .unwrap_or("Query")
            .to_owned();
        let Some(Json::Array(type_list)) = schema.get("types") else {
            return Err(invalid("__schema.types is not a list"));
        };

        let mut types = HashMap::with_capacity(type_list.len());
        // Entries that cannot be read are skipped: a check that needs them reports the
        // missing type.field, which says more than "bad introspection".
        for entry in type_list {
            let Some(name) = entry.get("name").and_then(Json::as_str) else {
                continue;
            };
            let mut schema_type = SchemaType::default();
            if let Some(Json::Array(fields)) = entry.get("fields") {
                for field in fields {
                    let (Some(field_name), Some(ty)) = (
                        field.get("name").and_then(Json::as_str),
                        field.get("type").and_then(TypeRef::from_json),
                    ) else {
                        continue;
                    };
                    let args = match field.get("args") {
                        Some(Json::Array(args)) => named_type_refs(args),
                        _ => HashMap::new(),
                    };
                    let deprecated = matches!(field.get("isDeprecated"), Some(Json::Bool(true)));
                    schema_type.fields.insert(
                        field_name.to_owned(),
                        Field {
                            ty,
                            args,
                            deprecated,
                        },
                    );
                }
            }
            if let Some(Json::Array(input_fields)) = entry.get("inputFields") {
                schema_type.input_fields = named_type_refs(input_fields);
            }
            types.insert(name.to_owned(), schema_type);
        }
        Ok(Schema { query_type, types })
    }

    fn is_deprecated_query(&self, field: &str) -> bool {
        self.types
            .get(&self.query_type)
            .and_then(|query| query.fields.get(field))
            .is_some_and(|field| field.deprecated)
    }
}

fn named_type_refs(list: &[Json<'_>]) -> HashMap<String, TypeRef> {
    list.iter()
        .filter_map(|item| {
            let name = item.get("name").and_then(Json::as_str)?;
            let ty = item.get("type").and_then(TypeRef::from_json)?;
            Some((name.to_owned(), ty))
        })
        .collect()
}

/// What a field must be for the parser to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// An object (or interface) we select fields of.
    Object,
    /// A list of objects.
    ObjectList,
    /// Any scalar read as a string (ids, dates, cursors).
    Scalar,
    /// A string or an enum (enums are sent as their name).
    Text,
    /// An integer.
    Int,
    /// A number.
    Number,
    Boolean,
}

impl Expect {
    fn accepts(self, kind: &str, name: &str, is_list: bool) -> bool {
        match self {
            Expect::Object => !is_list && matches!(kind, "OBJECT" | "INTERFACE"),
            Expect::ObjectList => is_list && matches!(kind, "OBJECT" | "INTERFACE"),
            Expect::Scalar => !is_list && kind == "SCALAR",
            Expect::Text => !is_list && matches!(kind, "SCALAR" | "ENUM"),
            Expect::Int => !is_list && kind == "SCALAR" && name == "Int",
            Expect::Number => !is_list && kind == "SCALAR" && matches!(name, "Float" | "Int"),
            Expect::Boolean => !is_list && kind == "SCALAR" && name == "Boolean",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Expect::Object => "an object",
            Expect::ObjectList => "a list of objects",
            Expect::Scalar => "a scalar",
            Expect::Text => "a string or an enum",
            Expect::Int => "Int",
            Expect::Number => "Float or Int",
            Expect::Boolean => "Boolean",
        }
    }
}

/// Walks the schema from the query field down, noting every problem instead of
/// stopping at the first, so one start-up error lists everything to fix.
struct Checker<'s> {
    schema: &'s Schema,
    problems: Vec<String>,
}

impl<'s> Checker<'s> {
    fn note(&mut self, problem: String) {
        if !self.problems.contains(&problem) {
            self.problems.push(problem);
        }
    }

    fn schema_type(&mut self, name: &str) -> Option<&'s SchemaType> {
        let found = self.schema.types.get(name);
        if found.is_none() {
            self.note(format!("type {name} is missing"));
        }
        found
    }

    /// The named type of `owner.field` when it exists and is what we expect.
    fn field(&mut self, owner: &str, field: &str, expect: Expect) -> Option<&'s str> {
        let ty = self.schema_type(owner)?.fields.get(field).map(|f| &f.ty);
        self.check(owner, field, ty, expect, "field")
    }

    /// Whether `owner.field` exists and is what we expect, noting nothing: for a field
    /// whose absence or odd type only turns a feature off.
    fn offers(&self, owner: &str, field: &str, expect: Expect) -> Option<&'s str> {
        let ty = &self.schema.types.get(owner)?.fields.get(field)?.ty;
        let (kind, name, is_list) = ty.core();
        expect.accepts(kind, name, is_list).then_some(name)
    }

    /// Like [`Checker::field`], for a field we can do without: absent is no problem.
    fn optional_field(&mut self, owner: &str, field: &str, expect: Expect) -> bool {
        let present = self
            .schema
            .types
            .get(owner)
            .is_some_and(|t| t.fields.contains_key(field));
        present && self.field(owner, field, expect).is_some()
    }

    fn check(
        &mut self,
        owner: &str,
        field: &str,
        ty: Option<&'s TypeRef>,
        expect: Expect,
        what: &str,
    ) -> Option<&'s str> {
        let Some(ty) = ty else {
            self.note(format!("{what} {owner}.{field} is missing"));
            return None;
        };
        let (kind, name, is_list) = ty.core();
        if expect.accepts(kind, name, is_list) {
            Some(name)
        } else {
            self.note(format!(
                "{what} {owner}.{field} is {}, expected {}",
                ty.render(),
                expect.describe()
            ));
            None
        }
    }

    /// The type reference of an argument of `owner.field`, rendered for a variable.
    fn argument(&mut self, owner: &str, field: &str, arg: &str, expect: Expect) -> Option<String> {
        let ty = self
            .schema
            .types
            .get(owner)
            .and_then(|t| t.fields.get(field))
            .and_then(|f| f.args.get(arg));
        let label = format!("{field}({arg}:)");
        self.check(owner, &label, ty, expect, "argument")?;
        ty.map(TypeRef::render)
    }

    /// The type reference of an input field, with its named type.
    fn input_field(&mut self, owner: &str, field: &str) -> Option<(&'s TypeRef, &'s str)> {
        let ty = self.schema.types.get(owner)?.input_fields.get(field);
        let Some(ty) = ty else {
            self.note(format!("input field {owner}.{field} is missing"));
            return None;
        };
        Some((ty, ty.core().1))
    }

    /// The named input type of an argument (`filters`, `interval`).
    fn input_argument(&mut self, owner: &str, field: &str, arg: &str) -> Option<&'s str> {
        let ty = self
            .schema
            .types
            .get(owner)
            .and_then(|t| t.fields.get(field))
            .and_then(|f| f.args.get(arg));
        match ty {
            Some(ty) => {
                let (kind, name, is_list) = ty.core();
                if kind == "INPUT_OBJECT" && !is_list {
                    self.schema_type(name).map(|_| name)
                } else {
                    self.note(format!(
                        "argument {owner}.{field}({arg}:) is {}, expected an input object",
                        ty.render()
                    ));
                    None
                }
            }
            None => {
                self.note(format!("argument {owner}.{field}({arg}:) is missing"));
                None
            }
        }
    }

    /// `interval {from, to}`: the variable types of `$from` and `$to`.
    fn interval(&mut self, interval_type: &str) -> (Option<String>, Option<String>) {
        let mut bound = |name| {
            self.input_field(interval_type, name)
                .map(|(ty, _)| ty.render())
        };
        (bound("from"), bound("to"))
    }

    fn project_ids(&mut self, filters_type: &str) -> Option<String> {
        let (ty, _) = self.input_field(filters_type, "projectIds")?;
        let (kind, _, is_list) = ty.core();
        if is_list && kind == "SCALAR" {
            Some(ty.render())
        } else {
            self.note(format!(
                "input field {filters_type}.projectIds is {}, expected a list of integers",
                ty.render()
            ));
            None
        }
    }
}

fn check_shape(
    schema: &Schema,
    shape: QueryShape,
    want_tags: bool,
) -> Result<QueryOptions, Vec<String>> {
    let mut checker = Checker {
        schema,
        problems: Vec::new(),
    };
    let c = &mut checker;
    let query = schema.query_type.as_str();
    let field = shape.field_name();
    if c.schema_type(query).is_none() {
        return Err(checker.problems);
    }
    let Some(connection) = c.field(query, field, Expect::Object) else {
        return Err(checker.problems);
    };

    let first_type = c.argument(query, field, "first", Expect::Int);
    let after_type = c.argument(query, field, "after", Expect::Scalar);
    let (from_type, to_type, project_ids_type) = match shape {
        QueryShape::SearchClosedConversations => {
            let (from, to) = match c.input_argument(query, field, "interval") {
                Some(interval) => c.interval(interval),
                None => (None, None),
            };
            let project_ids = c
                .input_argument(query, field, "filters")
                .and_then(|filters| c.project_ids(filters));
            (from, to, project_ids)
        }
        QueryShape::ClosedConversations => match c.input_argument(query, field, "filters") {
            Some(filters) => {
                let interval = c.input_field(filters, "interval").map(|(_, name)| name);
                let (from, to) = match interval {
                    Some(interval) if c.schema_type(interval).is_some() => c.interval(interval),
                    _ => (None, None),
                };
                (from, to, c.project_ids(filters))
            }
            None => (None, None, None),
        },
    };

    c.schema_type(connection);
    c.field(connection, "pageInfo", Expect::Object)
        .inspect(|page_info| {
            c.field(page_info, "hasNextPage", Expect::Boolean);
            c.field(page_info, "endCursor", Expect::Scalar);
        });
    let node = c
        .field(connection, "edges", Expect::ObjectList)
        .and_then(|edge| c.field(edge, "node", Expect::Object));

    let mut channel = false;
    let mut duration = false;
    let mut project_name = false;
    let mut tags = false;
    let mut transaction_id = false;
    if let Some(node) = node {
        let conversation = match shape {
            QueryShape::SearchClosedConversations => c.field(node, "conversation", Expect::Object),
            QueryShape::ClosedConversations => Some(node),
        };
        if let Some(conversation) = conversation {
            c.field(conversation, "id", Expect::Scalar);
            c.field(conversation, "createdAt", Expect::Scalar);
            c.field(conversation, "closedAt", Expect::Scalar);
            channel = c.optional_field(conversation, "channel", Expect::Text);
            // Text accepts every scalar, so a numeric duration passes too.
            duration = c.optional_field(conversation, "duration", Expect::Text);
            if let Some(project) = c.field(conversation, "project", Expect::Object) {
                c.field(project, "id", Expect::Int);
                project_name = c.optional_field(project, "name", Expect::Text);
            }
            tags = want_tags
                && c.offers(conversation, "tags", Expect::ObjectList)
                    .is_some_and(|tag| c.offers(tag, "name", Expect::Text).is_some());
        }
        // The search shape wraps survey and conversions in the node; the other carries
        // them on the conversation, which is the node.
        if let Some(survey) = c.field(node, "satisfactionSurvey", Expect::Object) {
            c.field(survey, "customerSatisfaction", Expect::Int);
            c.field(survey, "netPromoterScore", Expect::Int);
        }
        if let Some(transaction) = c
            .field(node, "conversions", Expect::Object)
            .and_then(|conversions| c.field(conversions, "transactions", Expect::ObjectList))
        {
            c.field(transaction, "amount", Expect::Number);
            c.field(transaction, "currency", Expect::Text);
            c.field(transaction, "externalConversionId", Expect::Scalar);
            transaction_id = c.optional_field(transaction, "id", Expect::Scalar);
        }
    }

    match (from_type, to_type, first_type, after_type, project_ids_type) {
        (
            Some(from_type),
            Some(to_type),
            Some(first_type),
            Some(after_type),
            Some(project_ids_type),
        ) if checker.problems.is_empty() => Ok(QueryOptions {
            channel,
            duration,
            project_name,
            tags,
            transaction_id,
            from_type,
            to_type,
            first_type,
            after_type,
            project_ids_type,
        }),
        _ => Err(checker.problems),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
    use serde_json::{Value, json};

    use super::*;

    /// The spec's schema.graphql, comments left out.
    pub(crate) const SPEC_SDL: &str = r#"
scalar DateTime
scalar UUID
type Query {
  searchClosedConversations(filters: SearchClosedConversationsFilters, interval: Interval!,
    first: Int, after: String): ClosedConversationSearchConnection!
  closedConversations(filters: ClosedConversationsFilters!, first: Int, after: String): ConversationConnection!
}
input Interval { from: DateTime! to: DateTime! }
input SearchClosedConversationsFilters { projectIds: [Int!] channels: [String!] }
input ClosedConversationsFilters { interval: Interval! projectIds: [Int!] channels: [String!] hasConversion: Boolean }
type PageInfo { hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String endCursor: String }
type ClosedConversationSearchConnection { edges: [ClosedConversationSearchEdge!]! pageInfo: PageInfo! }
type ClosedConversationSearchEdge { cursor: String node: ClosedConversationSearchResult! }
type ClosedConversationSearchResult { conversation: Conversation! satisfactionSurvey: SatisfactionSurvey conversions: Conversions }
type ConversationConnection { edges: [ConversationEdge!]! pageInfo: PageInfo! }
type ConversationEdge { cursor: String node: Conversation! }
type Conversation {
  id: UUID!
  createdAt: DateTime!
  closedAt: DateTime
  channel: String!
  duration: String
  project: Project
  tags: [ConversationTag!]!
  satisfactionSurvey: SatisfactionSurvey
  conversions: Conversions
}
type Project { id: Int! name: String }
type ConversationTag { id: ID! name: String! }
type SatisfactionSurvey { customerSatisfaction: Int netPromoterScore: Int comment: String satisfactionComment: String }
type Conversions { transactions: [Transaction!]! }
type Transaction {
  id: UUID
  amount: Float!
  currency: String!
  externalConversionId: String!
  receivedAt: DateTime!
  visitorDate: DateTime!
}
"#;

    /// The introspection answer a server with this SDL gives to [`introspection_query`].
    pub(crate) fn introspection(sdl: &str) -> Vec<u8> {
        let document = async_graphql::parser::parse_schema(sdl).unwrap();
        let mut kinds: HashMap<String, &str> = ["Int", "Float", "String", "Boolean", "ID"]
            .into_iter()
            .map(|name| (name.to_owned(), "SCALAR"))
            .collect();
        let definitions: Vec<_> = document
            .definitions
            .iter()
            .filter_map(|definition| match definition {
                TypeSystemDefinition::Type(t) => Some(&t.node),
                _ => None,
            })
            .collect();
        for t in &definitions {
            let kind = match t.kind {
                TypeKind::Scalar => "SCALAR",
                TypeKind::Object(_) => "OBJECT",
                TypeKind::Interface(_) => "INTERFACE",
                TypeKind::Union(_) => "UNION",
                TypeKind::Enum(_) => "ENUM",
                TypeKind::InputObject(_) => "INPUT_OBJECT",
            };
            kinds.insert(t.name.node.to_string(), kind);
        }
        fn type_ref(ty: &Type, kinds: &HashMap<String, &str>) -> Value {
            let inner = match &ty.base {
                BaseType::Named(name) => {
                    json!({"kind": kinds[name.as_str()], "name": name.as_str(), "ofType": null})
                }
                BaseType::List(item) => {
                    json!({"kind": "LIST", "name": null, "ofType": type_ref(item, kinds)})
                }
            };
            if ty.nullable {
                inner
            } else {
                json!({"kind": "NON_NULL", "name": null, "ofType": inner})
            }
        }
        let input_values = |values: &[async_graphql::Positioned<
            async_graphql::parser::types::InputValueDefinition,
        >]| {
            values
                .iter()
                .map(|v| json!({"name": v.node.name.node.as_str(), "type": type_ref(&v.node.ty.node, &kinds)}))
                .collect::<Vec<_>>()
        };
        let types: Vec<Value> = definitions
            .iter()
            .map(|t| {
                let fields = match &t.kind {
                    TypeKind::Object(object) => Value::Array(
                        object
                            .fields
                            .iter()
                            .map(|f| {
                                let f = &f.node;
                                json!({
                                    "name": f.name.node.as_str(),
                                    "isDeprecated": f.directives.iter().any(|d| d.node.name.node == "deprecated"),
                                    "args": input_values(&f.arguments),
                                    "type": type_ref(&f.ty.node, &kinds),
                                })
                            })
                            .collect(),
                    ),
                    _ => Value::Null,
                };
                let input_fields = match &t.kind {
                    TypeKind::InputObject(input) => Value::Array(input_values(&input.fields)),
                    _ => Value::Null,
                };
                json!({
                    "kind": kinds[t.name.node.as_str()],
                    "name": t.name.node.as_str(),
                    "fields": fields,
                    "inputFields": input_fields,
                })
            })
            .collect();
        serde_json::to_vec(&json!({
            "data": {"__schema": {"queryType": {"name": "Query"}, "types": types}}
        }))
        .unwrap()
    }

    fn plan(sdl: &str, choice: QueryChoice) -> Result<QueryPlan, Error> {
        plan_from_introspection(&introspection(sdl), choice, false)
    }

    fn schema_error(sdl: &str, choice: QueryChoice) -> String {
        match plan(sdl, choice) {
            Err(Error::Schema(message)) => message,
            other => panic!("expected a schema error, got {other:?}"),
        }
    }

    const SEARCH: QueryShape = QueryShape::SearchClosedConversations;
    const CLOSED: QueryShape = QueryShape::ClosedConversations;

    #[test]
    fn fixed_plans_are_valid_graphql_asking_only_for_what_is_read() {
        for shape in [SEARCH, CLOSED] {
            let plan = fixed_plan(shape, false);
            assert_eq!(plan.shape, shape);
            async_graphql::parser::parse_query(&plan.query).unwrap();
            for unwanted in ["tags", "comment", "visitorDate", "receivedAt"] {
                assert!(
                    !plan.query.contains(unwanted),
                    "{unwanted} in {}",
                    plan.query
                );
            }
            // The project's name, for iadvize_project_info, and no other name.
            assert!(plan.query.contains("project { id name }"), "{}", plan.query);
            assert_eq!(plan.query.matches("name").count(), 1, "{}", plan.query);
            assert!(plan.query.contains(
                "($from: DateTime!, $to: DateTime!, $first: Int, $after: String, $projectIds: [Int!])"
            ));
            assert!(plan.query.contains("project { id name }"));
            assert!(
                plan.query
                    .contains("transactions { id amount currency externalConversionId }")
            );
            assert!(plan.query.contains("pageInfo { hasNextPage endCursor }"));
            assert!(plan.query.contains("closedAt channel duration"));
        }
        let search = fixed_plan(SEARCH, false).query;
        assert!(search.contains(
            "searchClosedConversations(filters: {projectIds: $projectIds}, \
             interval: {from: $from, to: $to}, first: $first, after: $after)"
        ));
        assert!(search.contains("node { conversation { id createdAt"));
        let closed = fixed_plan(CLOSED, false).query;
        assert!(closed.contains(
            "closedConversations(filters: {interval: {from: $from, to: $to}, \
             projectIds: $projectIds}, first: $first, after: $after)"
        ));
        assert!(closed.contains("node { id createdAt"));
        assert!(!closed.contains("conversation {"));
    }

    #[test]
    fn introspection_query_is_valid_graphql() {
        async_graphql::parser::parse_query(introspection_query()).unwrap();
    }

    #[test]
    fn the_spec_schema_gives_the_documented_queries() {
        assert_eq!(
            plan(SPEC_SDL, QueryChoice::Auto).unwrap(),
            fixed_plan(SEARCH, false)
        );
        assert_eq!(
            plan(SPEC_SDL, QueryChoice::Fixed(SEARCH)).unwrap(),
            fixed_plan(SEARCH, false)
        );
        assert_eq!(
            plan(SPEC_SDL, QueryChoice::Fixed(CLOSED)).unwrap(),
            fixed_plan(CLOSED, false)
        );
    }

    #[test]
    fn auto_picks_the_shape_the_schema_offers() {
        let only_closed = SPEC_SDL.replace("searchClosedConversations(", "somethingElse(");
        // The fallback to the other shape is said, for `check`.
        assert_eq!(
            plan(&only_closed, QueryChoice::Auto).unwrap(),
            QueryPlan {
                fallbacks: vec![
                    "searchClosedConversations: field Query.searchClosedConversations is missing: reading closedConversations instead".to_owned()
                ],
                ..fixed_plan(CLOSED, false)
            }
        );
        let only_search = SPEC_SDL.replace("closedConversations(", "somethingElse(");
        assert_eq!(
            plan(&only_search, QueryChoice::Auto).unwrap(),
            fixed_plan(SEARCH, false)
        );

        let search_deprecated = SPEC_SDL.replace(
            "first: Int, after: String): ClosedConversationSearchConnection!",
            "first: Int, after: String): ClosedConversationSearchConnection! @deprecated(reason: \"old\")",
        );
        assert_ne!(search_deprecated, SPEC_SDL);
        assert_eq!(
            plan(&search_deprecated, QueryChoice::Auto).unwrap(),
            fixed_plan(CLOSED, false)
        );

        // The search shape cannot filter by a list of projects here: fall back to the other.
        let scalar_project_ids = SPEC_SDL.replace(
            "input SearchClosedConversationsFilters { projectIds: [Int!]",
            "input SearchClosedConversationsFilters { projectIds: Int",
        );
        assert_ne!(scalar_project_ids, SPEC_SDL);
        assert_eq!(
            plan(&scalar_project_ids, QueryChoice::Auto).unwrap(),
            QueryPlan {
                fallbacks: vec![
                    "searchClosedConversations: input field SearchClosedConversationsFilters.projectIds is Int, expected a list of integers: reading closedConversations instead".to_owned()
                ],
                ..fixed_plan(CLOSED, false)
            }
        );
        let message = schema_error(&scalar_project_ids, QueryChoice::Fixed(SEARCH));
        assert!(
            message.contains("SearchClosedConversationsFilters.projectIds is Int"),
            "{message}"
        );
    }

    #[test]
    fn optional_fields_the_schema_lacks_are_left_out() {
        let no_transaction_id = SPEC_SDL.replace("  id: UUID\n  amount", "  amount");
        assert_ne!(no_transaction_id, SPEC_SDL);
        let plan = plan(&no_transaction_id, QueryChoice::Auto).unwrap();
        assert_eq!(plan.shape, SEARCH);
        assert!(
            plan.query
                .contains("transactions { amount currency externalConversionId }")
        );
        assert_eq!(
            plan.fallbacks,
            ["no Transaction.id: transactions are told apart by externalConversionId"]
        );
        async_graphql::parser::parse_query(&plan.query).unwrap();

        let no_duration_nor_channel = SPEC_SDL
            .replace("  duration: String\n", "")
            .replace("  channel: String!\n", "");
        let plan = super::plan_from_introspection(
            &introspection(&no_duration_nor_channel),
            QueryChoice::Fixed(CLOSED),
            false,
        )
        .unwrap();
        assert!(
            plan.query
                .contains("node { id createdAt closedAt project { id name }"),
            "{}",
            plan.query
        );

        // An older schema whose projects have no name: the query leaves it out.
        let no_project_name = SPEC_SDL.replace(
            "type Project { id: Int! name: String }",
            "type Project { id: Int! }",
        );
        assert_ne!(no_project_name, SPEC_SDL);
        let unnamed = super::plan_from_introspection(
            &introspection(&no_project_name),
            QueryChoice::Fixed(CLOSED),
            false,
        )
        .unwrap();
        assert!(
            unnamed.query.contains("project { id }"),
            "{}",
            unnamed.query
        );
        async_graphql::parser::parse_query(&unnamed.query).unwrap();
    }

    #[test]
    fn tags_are_asked_for_only_when_on_and_offered() {
        let with_tags = |sdl: &str, choice| {
            super::plan_from_introspection(&introspection(sdl), choice, true).unwrap()
        };
        for shape in [SEARCH, CLOSED] {
            let plan = with_tags(SPEC_SDL, QueryChoice::Fixed(shape));
            assert_eq!(plan, fixed_plan(shape, true));
            assert!(plan.tags);
            assert!(
                plan.query.contains("project { id name } tags { name }"),
                "{}",
                plan.query
            );
            async_graphql::parser::parse_query(&plan.query).unwrap();
        }
        assert_eq!(
            with_tags(SPEC_SDL, QueryChoice::Auto),
            fixed_plan(SEARCH, true)
        );

        // A schema without tags, or whose tags are not objects with a name: left out,
        // and the query is still good.
        let no_tags = SPEC_SDL.replace("  tags: [ConversationTag!]!\n", "");
        let strings = SPEC_SDL.replace("tags: [ConversationTag!]!", "tags: [String!]!");
        let no_name = SPEC_SDL.replace(
            "type ConversationTag { id: ID! name: String! }",
            "type ConversationTag { id: ID! }",
        );
        for sdl in [no_tags, strings, no_name] {
            assert_ne!(sdl, SPEC_SDL);
            let plan = with_tags(&sdl, QueryChoice::Auto);
            assert!(!plan.tags);
            assert_eq!(plan.query, fixed_plan(SEARCH, false).query);
        }
    }

    #[test]
    fn missing_or_ill_typed_fields_are_named() {
        let no_closed_at = SPEC_SDL.replace("  closedAt: DateTime\n", "");
        let message = schema_error(&no_closed_at, QueryChoice::Auto);
        assert!(
            message.contains("field Conversation.closedAt is missing"),
            "{message}"
        );
        // Both shapes were tried.
        assert!(message.contains("searchClosedConversations:"), "{message}");
        assert!(message.contains("closedConversations:"), "{message}");

        let string_project_id =
            SPEC_SDL.replace("type Project { id: Int!", "type Project { id: String!");
        let message = schema_error(&string_project_id, QueryChoice::Fixed(CLOSED));
        assert!(
            message.contains("field Project.id is String!, expected Int"),
            "{message}"
        );

        let several = SPEC_SDL
            .replace("  amount: Float!\n", "  amount: String!\n")
            .replace("netPromoterScore: Int", "netPromoterScore: [Int]");
        let message = schema_error(&several, QueryChoice::Fixed(SEARCH));
        assert!(
            message.contains("Transaction.amount is String!, expected Float or Int"),
            "{message}"
        );
        assert!(
            message.contains("SatisfactionSurvey.netPromoterScore is [Int], expected Int"),
            "{message}"
        );

        let no_search = SPEC_SDL.replace("searchClosedConversations(", "somethingElse(");
        let message = schema_error(&no_search, QueryChoice::Fixed(SEARCH));
        assert!(
            message.contains("field Query.searchClosedConversations is missing"),
            "{message}"
        );

        let no_interval = SPEC_SDL.replace(
            "input Interval { from: DateTime! to",
            "input Interval { start: DateTime! to",
        );
        let message = schema_error(&no_interval, QueryChoice::Fixed(CLOSED));
        assert!(
            message.contains("input field Interval.from is missing"),
            "{message}"
        );

        let no_after = SPEC_SDL.replace(
            "first: Int, after: String): ConversationConnection!",
            "first: Int): ConversationConnection!",
        );
        let message = schema_error(&no_after, QueryChoice::Fixed(CLOSED));
        assert!(
            message.contains("argument Query.closedConversations(after:) is missing"),
            "{message}"
        );
    }

    #[test]
    fn variable_types_follow_the_schema() {
        let sdl = SPEC_SDL
            .replace("scalar DateTime\n", "scalar Instant\n")
            .replace("DateTime", "Instant")
            .replace(
                "input Interval { from: Instant! to: Instant! }",
                "input Interval { from: Instant to: Instant! }",
            )
            .replace("channel: String!", "channel: Channel!")
            + "enum Channel { CHAT CALL }\n";
        let plan = plan(&sdl, QueryChoice::Auto).unwrap();
        assert!(
            plan.query
                .contains("($from: Instant, $to: Instant!, $first: Int,"),
            "{}",
            plan.query
        );
        assert!(
            plan.query.contains("closedAt channel duration"),
            "an enum channel is read"
        );
    }

    #[test]
    fn unusable_introspection_answers() {
        let denied = br#"{"data":null,"errors":[{"message":"introspection disabled",
            "extensions":{"name":"FORBIDDEN","retryPolicy":"NO_RETRY"}}]}"#;
        assert!(matches!(
            plan_from_introspection(denied, QueryChoice::Auto, false),
            Err(Error::Graphql { ref name, retryable: false, .. }) if name == "FORBIDDEN"
        ));
        for body in [
            &b"<html>"[..],
            b"{}",
            br#"{"data":{"__schema":{"types":{}}}}"#,
        ] {
            assert!(matches!(
                plan_from_introspection(body, QueryChoice::Auto, false),
                Err(Error::InvalidResponse(_))
            ));
        }
        let empty = br#"{"data":{"__schema":{"queryType":{"name":"Query"},"types":[]}}}"#;
        assert!(matches!(
            plan_from_introspection(empty, QueryChoice::Auto, false),
            Err(Error::Schema(message)) if message.contains("type Query is missing")
        ));
    }
}
