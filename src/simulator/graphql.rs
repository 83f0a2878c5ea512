//! The GraphQL schema of schema.graphql, built with async-graphql's derive macros, and its
//! resolvers over the [`World`](super::world::World).
//!
//! `DateTime` and `UUID` wrap the string served, untouched, so that the simulator can serve
//! offsets, fractions and deliberately bad values. Fields an older or narrower schema lacks
//! (`Transaction.id`, one of the two query fields) are hidden from introspection with
//! `visible`, and refused by [`FieldGate`] before execution, because async-graphql still
//! resolves hidden fields.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::parser::types::{
    ExecutableDocument, OperationType, Selection, SelectionSet, TypeKind, TypeSystemDefinition,
};
use async_graphql::{
    Context, EmptyMutation, EmptySubscription, ErrorExtensions, ID, InputObject, InputValueError,
    InputValueResult, Object, Scalar, ScalarType, Schema, SimpleObject, Value,
};

use super::Offer;
use super::Shared;
use super::record::{ServedConversation, ServedConversions, ServedSurvey};
use super::world::{Page, Selection as Filter, SortKey};

/// The real API's page limit.
pub(crate) const MAX_PAGE_SIZE: usize = 100;

/// Error extension key marking an error as the request's fault: answered with HTTP 400.
const REQUEST_ERROR: &str = "simRequestError";

/// What the schema offers, read by the `visible` functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SchemaOptions {
    pub offer: Offer,
    pub transaction_id: bool,
}

fn options(ctx: &Context<'_>) -> SchemaOptions {
    ctx.data::<SchemaOptions>()
        .copied()
        .unwrap_or(SchemaOptions {
            offer: Offer::Both,
            transaction_id: true,
        })
}

fn search_offered(ctx: &Context<'_>) -> bool {
    options(ctx).offer != Offer::Closed
}

fn closed_offered(ctx: &Context<'_>) -> bool {
    options(ctx).offer != Offer::Search
}

fn transaction_id_offered(ctx: &Context<'_>) -> bool {
    options(ctx).transaction_id
}

/// RFC 3339 date, served verbatim.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DateTime(pub String);

#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(text) => Ok(DateTime(text)),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

/// A UUID, served verbatim.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Uuid(pub String);

#[Scalar(name = "UUID")]
impl ScalarType for Uuid {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(text) => Ok(Uuid(text)),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

#[derive(InputObject)]
pub(crate) struct Interval {
    from: DateTime,
    to: DateTime,
}

#[derive(InputObject)]
pub(crate) struct SearchClosedConversationsFilters {
    project_ids: Option<Vec<i32>>,
    channels: Option<Vec<String>>,
}

#[derive(InputObject)]
pub(crate) struct ClosedConversationsFilters {
    interval: Interval,
    project_ids: Option<Vec<i32>>,
    channels: Option<Vec<String>>,
    has_conversion: Option<bool>,
}

#[derive(SimpleObject)]
pub(crate) struct PageInfo {
    has_next_page: bool,
    has_previous_page: bool,
    start_cursor: Option<String>,
    end_cursor: Option<String>,
}

#[derive(SimpleObject)]
pub(crate) struct ClosedConversationSearchConnection {
    edges: Vec<ClosedConversationSearchEdge>,
    page_info: PageInfo,
}

#[derive(SimpleObject)]
pub(crate) struct ClosedConversationSearchEdge {
    cursor: Option<String>,
    node: ClosedConversationSearchResult,
}

#[derive(SimpleObject)]
pub(crate) struct ClosedConversationSearchResult {
    conversation: Conversation,
    satisfaction_survey: Option<SatisfactionSurvey>,
    conversions: Option<Conversions>,
}

#[derive(SimpleObject)]
pub(crate) struct ConversationConnection {
    edges: Vec<ConversationEdge>,
    page_info: PageInfo,
}

#[derive(SimpleObject)]
pub(crate) struct ConversationEdge {
    cursor: Option<String>,
    node: Conversation,
}

#[derive(SimpleObject)]
pub(crate) struct Conversation {
    id: Uuid,
    created_at: DateTime,
    closed_at: Option<DateTime>,
    channel: String,
    duration: Option<String>,
    project: Option<Project>,
    tags: Vec<ConversationTag>,
    satisfaction_survey: Option<SatisfactionSurvey>,
    conversions: Option<Conversions>,
}

#[derive(SimpleObject)]
pub(crate) struct Project {
    id: i32,
    name: Option<String>,
}

#[derive(SimpleObject)]
pub(crate) struct ConversationTag {
    id: ID,
    name: String,
}

#[derive(SimpleObject, Clone)]
pub(crate) struct SatisfactionSurvey {
    customer_satisfaction: Option<i32>,
    net_promoter_score: Option<i32>,
    comment: Option<String>,
    satisfaction_comment: Option<String>,
}

#[derive(SimpleObject, Clone)]
pub(crate) struct Conversions {
    transactions: Vec<Transaction>,
}

#[derive(SimpleObject, Clone)]
pub(crate) struct Transaction {
    #[graphql(visible = "transaction_id_offered")]
    id: Option<Uuid>,
    amount: f64,
    currency: String,
    external_conversion_id: String,
    received_at: DateTime,
    visitor_date: DateTime,
}

fn survey(s: &ServedSurvey) -> SatisfactionSurvey {
    SatisfactionSurvey {
        customer_satisfaction: s.customer_satisfaction,
        net_promoter_score: s.net_promoter_score,
        comment: s.comment.clone(),
        satisfaction_comment: s.comment.clone(),
    }
}

fn conversions(c: &ServedConversions) -> Conversions {
    Conversions {
        transactions: c
            .transactions
            .iter()
            .map(|t| Transaction {
                id: t.id.clone().map(Uuid),
                amount: t.amount,
                currency: t.currency.clone(),
                external_conversion_id: t.external_conversion_id.clone(),
                received_at: DateTime(t.received_at.clone()),
                visitor_date: DateTime(t.visitor_date.clone()),
            })
            .collect(),
    }
}

fn conversation(c: ServedConversation) -> Conversation {
    Conversation {
        satisfaction_survey: c.satisfaction_survey.as_ref().map(survey),
        conversions: c.conversions.as_ref().map(conversions),
        id: Uuid(c.id),
        created_at: DateTime(c.created_at),
        closed_at: c.closed_at.map(DateTime),
        channel: c.channel,
        duration: c.duration,
        project: c.project.map(|p| Project {
            id: p.id,
            name: p.name,
        }),
        tags: c
            .tags
            .into_iter()
            .map(|t| ConversationTag {
                id: ID(t.id),
                name: t.name,
            })
            .collect(),
    }
}

fn page_info(page: &Page, after: Option<SortKey>) -> PageInfo {
    PageInfo {
        has_next_page: page.has_next_page,
        has_previous_page: after.is_some(),
        start_cursor: page.items.first().map(|(key, _)| key.cursor()),
        end_cursor: page.items.last().map(|(key, _)| key.cursor()),
    }
}

/// An error that makes the whole request a bad one (HTTP 400).
fn bad_request(message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set(REQUEST_ERROR, true))
}

/// An interval bound as Unix ms, rounded up: `close_ms >= bound` then means
/// `close >= the exact instant`, for `from` and `to` alike.
fn bound_ms(name: &str, value: &DateTime) -> async_graphql::Result<i64> {
    let date = chrono::DateTime::parse_from_rfc3339(&value.0).map_err(|_| {
        bad_request(format!(
            "Invalid value for argument \"interval.{name}\": {:?} is not an RFC 3339 date",
            value.0
        ))
    })?;
    let nanos = i64::from(date.timestamp_subsec_nanos());
    Ok(date
        .timestamp()
        .saturating_mul(1000)
        .saturating_add((nanos + 999_999) / 1_000_000))
}

/// The interval's bounds; one whose `from` is after its `to` is refused, and counted, so
/// the tests can prove a client never sends one.
fn interval_ms(shared: &Shared, interval: &Interval) -> async_graphql::Result<(i64, i64)> {
    let (from, to) = (
        bound_ms("from", &interval.from)?,
        bound_ms("to", &interval.to)?,
    );
    if from > to {
        shared.with_stats(|s| s.inverted_intervals += 1);
        return Err(bad_request(format!(
            "Invalid value for argument \"interval\": from {:?} is after to {:?}",
            interval.from.0, interval.to.0
        )));
    }
    Ok((from, to))
}

/// Page size and position from `first` and `after`; records the size asked for.
fn paging(
    shared: &Shared,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<(usize, Option<SortKey>)> {
    let asked = match first {
        None => MAX_PAGE_SIZE,
        Some(n) => usize::try_from(n)
            .map_err(|_| bad_request("Invalid value for argument \"first\": must be >= 0"))?,
    };
    shared.note_page_size(asked);
    let after = match after {
        None => None,
        Some(cursor) => Some(SortKey::from_cursor(&cursor).ok_or_else(|| {
            bad_request(format!(
                "Invalid value for argument \"after\": bad cursor {cursor:?}"
            ))
        })?),
    };
    // Clamped rather than refused: the documented limit is "at most 100", and a client
    // asking for more is told by the short page and hasNextPage.
    Ok((asked.min(MAX_PAGE_SIZE), after))
}

pub(crate) struct Query;

#[Object]
impl Query {
    #[graphql(visible = "search_offered")]
    async fn search_closed_conversations(
        &self,
        ctx: &Context<'_>,
        filters: Option<SearchClosedConversationsFilters>,
        interval: Interval,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<ClosedConversationSearchConnection> {
        if !search_offered(ctx) {
            return Err(bad_request(unknown_field(
                "searchClosedConversations",
                "Query",
            )));
        }
        let shared = ctx.data::<Arc<Shared>>()?;
        let (from_ms, to_ms) = interval_ms(shared, &interval)?;
        let (first, after) = paging(shared, first, after)?;
        let (project_ids, channels) = match filters {
            Some(f) => (f.project_ids, f.channels),
            None => (None, None),
        };
        let filter = Filter {
            from_ms,
            to_ms,
            project_ids,
            channels,
            has_conversion: None,
        };
        let page = shared.page(&filter, first, after);
        let info = page_info(&page, after);
        let edges = page
            .items
            .into_iter()
            .map(|(key, served)| {
                let satisfaction_survey = served.satisfaction_survey.as_ref().map(survey);
                let conversions = served.conversions.as_ref().map(conversions);
                ClosedConversationSearchEdge {
                    cursor: Some(key.cursor()),
                    node: ClosedConversationSearchResult {
                        conversation: conversation(served),
                        satisfaction_survey,
                        conversions,
                    },
                }
            })
            .collect();
        Ok(ClosedConversationSearchConnection {
            edges,
            page_info: info,
        })
    }

    #[graphql(visible = "closed_offered")]
    async fn closed_conversations(
        &self,
        ctx: &Context<'_>,
        filters: ClosedConversationsFilters,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<ConversationConnection> {
        if !closed_offered(ctx) {
            return Err(bad_request(unknown_field("closedConversations", "Query")));
        }
        let shared = ctx.data::<Arc<Shared>>()?;
        let (from_ms, to_ms) = interval_ms(shared, &filters.interval)?;
        let (first, after) = paging(shared, first, after)?;
        let filter = Filter {
            from_ms,
            to_ms,
            project_ids: filters.project_ids,
            channels: filters.channels,
            has_conversion: filters.has_conversion,
        };
        let page = shared.page(&filter, first, after);
        let info = page_info(&page, after);
        let edges = page
            .items
            .into_iter()
            .map(|(key, served)| ConversationEdge {
                cursor: Some(key.cursor()),
                node: conversation(served),
            })
            .collect();
        Ok(ConversationConnection {
            edges,
            page_info: info,
        })
    }
}

pub(crate) type SimSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// The schema, with `shared` for the resolvers (absent in schema-only tests).
pub(crate) fn build_schema(shared: Option<Arc<Shared>>, options: SchemaOptions) -> SimSchema {
    let builder = Schema::build(Query, EmptyMutation, EmptySubscription).data(options);
    match shared {
        Some(shared) => builder.data(shared).finish(),
        None => builder.finish(),
    }
}

fn unknown_field(field: &str, on: &str) -> String {
    format!("Unknown field \"{field}\" on type \"{on}\".")
}

/// Refuses fields the offered schema lacks, wherever they appear in a query (fragments
/// included), as the real API's validation would.
pub(crate) struct FieldGate {
    /// Type -> field -> the field's named type.
    fields: HashMap<String, HashMap<String, String>>,
    hidden: Vec<(&'static str, &'static str)>,
}

impl FieldGate {
    pub fn new(schema: &SimSchema, options: SchemaOptions) -> Self {
        let mut fields: HashMap<String, HashMap<String, String>> = HashMap::new();
        if let Ok(document) = async_graphql::parser::parse_schema(schema.sdl()) {
            for definition in document.definitions {
                let TypeSystemDefinition::Type(ty) = definition else {
                    continue;
                };
                let TypeKind::Object(object) = &ty.node.kind else {
                    continue;
                };
                let entry = fields.entry(ty.node.name.node.to_string()).or_default();
                for field in &object.fields {
                    entry.insert(
                        field.node.name.node.to_string(),
                        named_type(&field.node.ty.node).to_string(),
                    );
                }
            }
        }
        let mut hidden = Vec::new();
        match options.offer {
            Offer::Both => {}
            Offer::Search => hidden.push(("Query", "closedConversations")),
            Offer::Closed => hidden.push(("Query", "searchClosedConversations")),
        }
        if !options.transaction_id {
            hidden.push(("Transaction", "id"));
        }
        FieldGate { fields, hidden }
    }

    /// `Err(message)` when the query asks for a hidden field.
    pub fn check(&self, document: &ExecutableDocument) -> Result<(), String> {
        if self.hidden.is_empty() {
            return Ok(());
        }
        for (_, operation) in document.operations.iter() {
            if operation.node.ty == OperationType::Query {
                self.walk(document, &operation.node.selection_set.node, "Query", 0)?;
            }
        }
        Ok(())
    }

    fn walk(
        &self,
        document: &ExecutableDocument,
        set: &SelectionSet,
        ty: &str,
        depth: usize,
    ) -> Result<(), String> {
        // Fragment cycles are invalid anyway; async-graphql reports them.
        if depth > 32 {
            return Ok(());
        }
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    if self.hidden.iter().any(|(t, f)| *t == ty && *f == name) {
                        return Err(unknown_field(name, ty));
                    }
                    if let Some(child) = self.fields.get(ty).and_then(|f| f.get(name)) {
                        self.walk(document, &field.node.selection_set.node, child, depth + 1)?;
                    }
                }
                Selection::InlineFragment(fragment) => {
                    let on = fragment
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(ty, |c| c.node.on.node.as_str());
                    self.walk(document, &fragment.node.selection_set.node, on, depth + 1)?;
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node)
                    {
                        let on = fragment.node.type_condition.node.on.node.as_str();
                        self.walk(document, &fragment.node.selection_set.node, on, depth + 1)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn named_type(ty: &async_graphql::parser::types::Type) -> &str {
    match &ty.base {
        async_graphql::parser::types::BaseType::Named(name) => name.as_str(),
        async_graphql::parser::types::BaseType::List(inner) => named_type(inner),
    }
}

/// The outcome of one GraphQL request.
#[derive(Debug)]
pub(crate) enum Answer {
    /// HTTP 200: data, field errors, or both.
    Executed(async_graphql::Response),
    /// HTTP 400: the request itself is wrong (syntax, unknown field, bad argument).
    Refused(Vec<String>),
}

/// Runs one request.
pub(crate) async fn answer(
    schema: &SimSchema,
    gate: &FieldGate,
    request: async_graphql::Request,
) -> Answer {
    if let Ok(document) = async_graphql::parser::parse_query(&request.query)
        && let Err(message) = gate.check(&document)
    {
        return Answer::Refused(vec![message]);
    }
    let response = schema.execute(request).await;
    let marked = response.errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .is_some_and(|x| x.get(REQUEST_ERROR).is_some())
    });
    // Parse, validation and operation errors carry no path: the request never ran.
    let never_ran = response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    if marked || never_ran {
        return Answer::Refused(response.errors.into_iter().map(|e| e.message).collect());
    }
    Answer::Executed(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::SimConfig;
    use async_graphql::parser::types::TypeKind;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn sim(config: SimConfig) -> (Arc<Shared>, SimSchema, FieldGate) {
        let options = SchemaOptions {
            offer: config.offer,
            transaction_id: config.transaction_id,
        };
        let start_ms = crate::simulator::Clock::default().now_ms();
        let shared = Arc::new(Shared::new(config, start_ms));
        let schema = build_schema(Some(shared.clone()), options);
        let gate = FieldGate::new(&schema, options);
        (shared, schema, gate)
    }

    fn small() -> SimConfig {
        SimConfig {
            history: Duration::from_secs(300), // ~600 conversations
            ..SimConfig::default()
        }
    }

    async fn run(schema: &SimSchema, gate: &FieldGate, query: &str) -> Answer {
        answer(schema, gate, async_graphql::Request::new(query)).await
    }

    fn data(answer: Answer) -> serde_json::Value {
        match answer {
            Answer::Executed(response) => {
                assert!(response.errors.is_empty(), "{:?}", response.errors);
                serde_json::to_value(&response.data).unwrap()
            }
            Answer::Refused(messages) => panic!("refused: {messages:?}"),
        }
    }

    fn refused(answer: Answer) -> String {
        match answer {
            Answer::Refused(messages) => messages.join("\n"),
            Answer::Executed(response) => panic!("executed: {response:?}"),
        }
    }

    /// `type.field` -> `(args): Type` for objects, `type.field` -> `Type` for inputs, and
    /// `type` -> kind for every type.
    fn signatures(sdl: &str) -> BTreeMap<String, String> {
        let document = async_graphql::parser::parse_schema(sdl).unwrap();
        let mut out = BTreeMap::new();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let name = ty.node.name.node.to_string();
            match &ty.node.kind {
                TypeKind::Scalar => {
                    out.insert(name, "scalar".to_string());
                }
                TypeKind::Object(object) => {
                    out.insert(name.clone(), "object".to_string());
                    for field in &object.fields {
                        let mut args: Vec<String> = field
                            .node
                            .arguments
                            .iter()
                            .map(|a| format!("{}: {}", a.node.name.node, a.node.ty.node))
                            .collect();
                        args.sort();
                        out.insert(
                            format!("{name}.{}", field.node.name.node),
                            format!("({}): {}", args.join(", "), field.node.ty.node),
                        );
                    }
                }
                TypeKind::InputObject(input) => {
                    out.insert(name.clone(), "input".to_string());
                    for field in &input.fields {
                        out.insert(
                            format!("{name}.{}", field.node.name.node),
                            field.node.ty.node.to_string(),
                        );
                    }
                }
                other => {
                    out.insert(name, format!("{other:?}"));
                }
            }
        }
        out
    }

    #[test]
    fn the_schema_matches_schema_graphql() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/spec/iadvize/schema.graphql");
        let spec = signatures(&std::fs::read_to_string(path).unwrap());
        let options = SchemaOptions {
            offer: Offer::Both,
            transaction_id: true,
        };
        let ours = signatures(&build_schema(None, options).sdl());
        assert!(
            spec.len() > 50,
            "the spec parsed to only {} entries",
            spec.len()
        );
        for (key, signature) in &spec {
            assert_eq!(ours.get(key), Some(signature), "{key}");
        }
        // Nothing more either, on the spec's types.
        for key in ours.keys() {
            let ty = key.split('.').next().unwrap_or_default();
            if spec.contains_key(ty) {
                assert!(spec.contains_key(key), "{key} is not in schema.graphql");
            }
        }
    }

    /// The `query MyQuery { ... }` blocks of the help-centre article, as written.
    fn help_centre_queries() -> Vec<String> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/spec/iadvize/help-centre-article.txt"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let mut queries = Vec::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("query MyQuery") {
            let from = &rest[start..];
            let mut depth = 0;
            let mut end = None;
            for (i, c) in from.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let end = end.unwrap();
            // The article's code blocks indent with no-break spaces, an artefact of its
            // HTML that no GraphQL lexer accepts (the spec's whitespace is tab and space);
            // a reader copying the query gets spaces.
            queries.push(from[..end].replace('\u{a0}', " "));
            rest = &from[end..];
        }
        queries
    }

    #[tokio::test]
    async fn the_help_centre_queries_are_answered_as_written() {
        let (_, schema, gate) = sim(small());
        let queries = help_centre_queries();
        assert_eq!(queries.len(), 3);
        for query in queries {
            let data = data(run(&schema, &gate, &query).await);
            assert_eq!(
                data["searchClosedConversations"]["edges"],
                serde_json::json!([]),
                "{query}"
            );
        }
    }

    fn now_interval() -> String {
        let now = chrono::Utc::now();
        let from = now - chrono::Duration::hours(1);
        let to = now + chrono::Duration::hours(1);
        format!(
            "{{from: \"{}\", to: \"{}\"}}",
            from.to_rfc3339(),
            to.to_rfc3339()
        )
    }

    #[tokio::test]
    async fn a_bare_project_id_is_a_list_and_the_default_page_is_100() {
        let (_, schema, gate) = sim(small());
        let query = format!(
            "{{ searchClosedConversations(filters: {{projectIds: 1002}}, interval: {}) {{
                edges {{ cursor node {{ conversation {{ id project {{ id }} }} }} }}
                pageInfo {{ hasNextPage endCursor }} }} }}",
            now_interval()
        );
        let data = data(run(&schema, &gate, &query).await);
        let result = &data["searchClosedConversations"];
        let edges = result["edges"].as_array().unwrap();
        // ~600 conversations, a third of them in project 1002.
        assert_eq!(edges.len(), 100);
        assert!(
            edges
                .iter()
                .all(|e| e["node"]["conversation"]["project"]["id"] == 1002)
        );
        assert_eq!(result["pageInfo"]["hasNextPage"], true);
        assert_eq!(result["pageInfo"]["endCursor"], edges[99]["cursor"]);
    }

    #[tokio::test]
    async fn pages_are_at_most_100_and_the_size_asked_is_recorded() {
        let (shared, schema, gate) = sim(small());
        let query = format!(
            "{{ closedConversations(filters: {{interval: {}}}, first: 500) {{ edges {{ node {{ id }} }} }} }}",
            now_interval()
        );
        let data = data(run(&schema, &gate, &query).await);
        assert_eq!(
            data["closedConversations"]["edges"]
                .as_array()
                .unwrap()
                .len(),
            100
        );
        assert_eq!(shared.stats().max_page_size_seen, 500);
        let negative = query.replace("first: 500", "first: -1");
        assert!(refused(run(&schema, &gate, &negative).await).contains("first"));
    }

    #[tokio::test]
    async fn an_unknown_field_is_refused_by_name() {
        let (_, schema, gate) = sim(small());
        let query = format!(
            "{{ searchClosedConversations(interval: {}) {{ edges {{ node {{ conversation {{ foo }} }} }} }} }}",
            now_interval()
        );
        assert!(refused(run(&schema, &gate, &query).await).contains("foo"));
        assert!(refused(run(&schema, &gate, "{ nope").await).contains("expected"));
    }

    #[tokio::test]
    async fn a_date_that_is_not_rfc3339_is_refused() {
        let (_, schema, gate) = sim(small());
        let literal = "{ searchClosedConversations(interval: {from: \"2024-05-01 12:00\", to: \"2024-05-02T00:00:00Z\"}) { edges { cursor } } }";
        assert!(refused(run(&schema, &gate, literal).await).contains("interval.from"));
        let with_variables = async_graphql::Request::new(
            "query Q($i: Interval!) { closedConversations(filters: {interval: $i}) { edges { cursor } } }",
        )
        .variables(async_graphql::Variables::from_json(serde_json::json!({
            "i": {"from": "2024-05-01T00:00:00Z", "to": "tomorrow"}
        })));
        let answer = answer(&schema, &gate, with_variables).await;
        assert!(refused(answer).contains("interval.to"));
    }

    #[tokio::test]
    async fn offsets_and_fractions_are_accepted_in_intervals() {
        let (_, schema, gate) = sim(small());
        let query = "{ closedConversations(filters: {interval: {from: \"2024-05-01T14:00:00.123+02:00\", to: \"2024-05-01T13:00:00Z\"}}) { edges { cursor } } }";
        let data = data(run(&schema, &gate, query).await);
        assert_eq!(data["closedConversations"]["edges"], serde_json::json!([]));
    }

    #[tokio::test]
    async fn introspection_works() {
        let (_, schema, gate) = sim(small());
        let data = data(
            run(
                &schema,
                &gate,
                "{ __schema { queryType { fields { name } } } __type(name: \"Conversation\") { fields { name } } }",
            )
            .await,
        );
        let roots: Vec<&str> = data["__schema"]["queryType"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["name"].as_str())
            .collect();
        assert_eq!(
            roots,
            vec!["searchClosedConversations", "closedConversations"]
        );
        let fields = data["__type"]["fields"].as_array().unwrap();
        assert!(fields.iter().any(|f| f["name"] == "satisfactionSurvey"));
    }

    #[tokio::test]
    async fn a_narrower_schema_hides_and_refuses_what_it_lacks() {
        let (_, schema, gate) = sim(SimConfig {
            offer: Offer::Search,
            transaction_id: false,
            ..small()
        });
        let roots = data(
            run(
                &schema,
                &gate,
                "{ __schema { queryType { fields { name } } } __type(name: \"Transaction\") { fields { name } } }",
            )
            .await,
        );
        assert_eq!(
            roots["__schema"]["queryType"]["fields"],
            serde_json::json!([{"name": "searchClosedConversations"}])
        );
        let fields = roots["__type"]["fields"].as_array().unwrap();
        assert!(!fields.iter().any(|f| f["name"] == "id"));
        assert!(fields.iter().any(|f| f["name"] == "amount"));

        let closed = format!(
            "{{ closedConversations(filters: {{interval: {}}}) {{ edges {{ cursor }} }} }}",
            now_interval()
        );
        assert!(refused(run(&schema, &gate, &closed).await).contains("closedConversations"));
        let id_in_fragment = format!(
            "query {{ searchClosedConversations(interval: {}) {{ edges {{ node {{ ...N }} }} }} }}
             fragment N on ClosedConversationSearchResult {{ conversions {{ transactions {{ ... on Transaction {{ id }} }} }} }}",
            now_interval()
        );
        let message = refused(run(&schema, &gate, &id_in_fragment).await);
        assert!(
            message.contains("\"id\"") && message.contains("Transaction"),
            "{message}"
        );
        let amount_only = id_in_fragment.replace("{ id }", "{ amount }");
        data(run(&schema, &gate, &amount_only).await);

        let (_, schema, gate) = sim(SimConfig {
            offer: Offer::Closed,
            ..small()
        });
        let search = format!(
            "{{ searchClosedConversations(interval: {}) {{ edges {{ cursor }} }} }}",
            now_interval()
        );
        assert!(refused(run(&schema, &gate, &search).await).contains("searchClosedConversations"));
        data(run(&schema, &gate, &closed).await);
    }

    #[tokio::test]
    async fn both_shapes_serve_the_same_conversations_and_surveys() {
        // Frozen: no new conversation, and a day later every answer is in.
        let (shared, schema, gate) = sim(SimConfig {
            traffic_duration: Some(Duration::ZERO),
            ..small()
        });
        shared.clock.advance(Duration::from_secs(86_400));
        let interval = now_interval();
        let search = data(
            run(
                &schema,
                &gate,
                &format!(
                    "{{ searchClosedConversations(interval: {interval}) {{ edges {{ node {{
                        conversation {{ id satisfactionSurvey {{ customerSatisfaction }} }}
                        satisfactionSurvey {{ customerSatisfaction }} }} }} }} }}"
                ),
            )
            .await,
        );
        let closed = data(
            run(
                &schema,
                &gate,
                &format!(
                    "{{ closedConversations(filters: {{interval: {interval}}}) {{ edges {{ node {{
                        id satisfactionSurvey {{ customerSatisfaction }} }} }} }} }}"
                ),
            )
            .await,
        );
        let search_edges = search["searchClosedConversations"]["edges"]
            .as_array()
            .unwrap();
        let closed_edges = closed["closedConversations"]["edges"].as_array().unwrap();
        assert_eq!(search_edges.len(), 100);
        assert_eq!(search_edges.len(), closed_edges.len());
        for (s, c) in search_edges.iter().zip(closed_edges) {
            assert_eq!(s["node"]["conversation"]["id"], c["node"]["id"]);
            assert_eq!(
                s["node"]["satisfactionSurvey"],
                c["node"]["satisfactionSurvey"]
            );
            assert_eq!(
                s["node"]["conversation"]["satisfactionSurvey"],
                c["node"]["satisfactionSurvey"]
            );
        }
    }
}
