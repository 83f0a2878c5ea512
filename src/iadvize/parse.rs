//! Tolerant parsing of GraphQL responses into the typed records of [`super::model`].
//!
//! Everything here is pure and total: any byte string gives a value or an error, never a
//! panic. A page is refused as a whole only when its envelope is unusable (not JSON, no
//! connection, no `pageInfo`); a bad record or field is dropped and reported as a
//! [`Rejection`], so one odd conversation never hides the others. The page is read with
//! the never-failing structs of `json.rs`, so the validation below sees every oddity.

use super::Error;
use super::json::{GraphqlError, Leaf, List, Obj, fields, from_body, graphql_errors};
use super::model::{
    Conversation, Currency, Id128, InvalidReason, Page, QueryShape, Rejection, Transaction,
};

// Kept at their old paths: `iadvize::parse` is public.
pub use super::json::error_messages;
pub use super::time_formats::{parse_datetime_millis, parse_duration_seconds};

/// One page of the connection `shape` asks for, from a GraphQL response body.
pub fn parse_page(body: &[u8], shape: QueryShape) -> Result<Page, Error> {
    let Obj::Value(envelope) = from_body::<Obj<Envelope<'_>>>(body)? else {
        return Err(invalid("the response is not a JSON object".to_owned()));
    };
    graphql_errors(&envelope.errors)?;
    let field = shape.field_name();
    let Obj::Value(data) = envelope.data else {
        return Err(invalid("no data in the response".to_owned()));
    };
    let connection = match shape {
        QueryShape::SearchClosedConversations => data.search_closed_conversations,
        QueryShape::ClosedConversations => data.closed_conversations,
    };
    let Obj::Value(connection) = connection else {
        return Err(invalid(format!("data.{field} is missing or not an object")));
    };
    let List::Items(edges) = connection.edges else {
        return Err(invalid(format!("data.{field}.edges is not a list")));
    };
    let Obj::Value(page_info) = connection.page_info else {
        return Err(invalid(format!("data.{field}.pageInfo is missing")));
    };
    let Leaf::Bool(has_next_page) = page_info.has_next_page else {
        return Err(invalid("pageInfo.hasNextPage is not a boolean".to_owned()));
    };
    let end_cursor = match page_info.end_cursor {
        Leaf::Absent | Leaf::Null => None,
        Leaf::Str(cursor) => Some(cursor.into_owned()),
        _ => return Err(invalid("pageInfo.endCursor is not a string".to_owned())),
    };

    let mut page = Page {
        conversations: Vec::with_capacity(edges.len()),
        channels: Vec::new(),
        rejections: Vec::new(),
        records: edges.len(),
        has_next_page,
        end_cursor,
        project_names: Vec::new(),
    };
    for edge in &edges {
        parse_edge(edge, shape, &mut page);
    }
    Ok(page)
}

fn invalid(message: String) -> Error {
    Error::InvalidResponse(message)
}

fn parse_edge(edge: &Obj<Edge<'_>>, shape: QueryShape, page: &mut Page) {
    let Obj::Value(Edge {
        node: Obj::Value(node),
    }) = edge
    else {
        return page.reject(InvalidReason::Malformed, None);
    };
    let node: &Node<'_> = node;
    // `holder` carries satisfactionSurvey and conversions: the wrapper node in the search
    // shape, the conversation itself in the other.
    let (conversation, holder) = match shape {
        QueryShape::SearchClosedConversations => match &node.conversation {
            Obj::Value(conversation) => (&**conversation, node),
            _ => return page.reject(InvalidReason::Malformed, None),
        },
        QueryShape::ClosedConversations => (node, node),
    };

    let (id, id_text) = match &conversation.id {
        Leaf::Str(text) if !text.is_empty() => {
            let id = Id128::of(text);
            (id, id.is_hashed().then(|| std::sync::Arc::from(&**text)))
        }
        _ => {
            let key = content_key(conversation);
            return page.reject(InvalidReason::MissingId, Some(key));
        }
    };
    let Obj::Value(Project {
        id: Leaf::Int(project_id),
        name: project_name,
    }) = &conversation.project
    else {
        return page.reject(InvalidReason::MissingProject, Some(id));
    };
    let project_id = *project_id;
    let Some(closed_at) = conversation
        .closed_at
        .as_str()
        .and_then(parse_datetime_millis)
    else {
        return page.reject(InvalidReason::BadClosedAt, Some(id));
    };

    let mut field_rejections: Vec<InvalidReason> = Vec::new();

    // A channel of another type keeps the record (as `unknown`): no rejection reason
    // drops only the channel, and the rest of the record is still worth counting.
    let channel = match &conversation.channel {
        Leaf::Str(channel) => page.channel_index(channel),
        _ => page.channel_index(""),
    };

    let created_at = conversation
        .created_at
        .as_str()
        .and_then(parse_datetime_millis);
    if created_at.is_none() {
        field_rejections.push(InvalidReason::BadCreatedAt);
    }
    let sent_duration = match &conversation.duration {
        Leaf::Absent | Leaf::Null => None,
        Leaf::Str(s) => Some(parse_duration_seconds(s).ok_or(())),
        Leaf::Int(n) if *n >= 0 => Some(Ok(*n as f64)),
        Leaf::Float(x) if *x >= 0.0 => Some(Ok(*x + 0.0)),
        _ => Some(Err(())),
    };
    let duration_seconds = match sent_duration {
        Some(Ok(seconds)) => Some(seconds),
        sent => {
            if sent.is_some() {
                field_rejections.push(InvalidReason::BadDuration);
            }
            match created_at {
                Some(created_at) if closed_at >= created_at => {
                    Some((closed_at - created_at) as f64 / 1000.0)
                }
                _ => None,
            }
        }
    };

    let (csat, nps) = match &holder.satisfaction_survey {
        Obj::Absent | Obj::Null => (None, None),
        Obj::Value(survey) => (
            score(
                &survey.customer_satisfaction,
                1,
                5,
                InvalidReason::BadCsat,
                &mut field_rejections,
            ),
            score(
                &survey.net_promoter_score,
                0,
                10,
                InvalidReason::BadNps,
                &mut field_rejections,
            ),
        ),
        Obj::Other => {
            field_rejections.push(InvalidReason::BadCsat);
            field_rejections.push(InvalidReason::BadNps);
            (None, None)
        }
    };

    let transactions = transactions(&holder.conversions, &mut field_rejections);

    for reason in field_rejections {
        page.reject(reason, Some(id));
    }
    // Only a string is a name; null, absent or anything else leaves it unnamed.
    page.name_project(project_id, project_name.as_str());
    page.conversations.push(Conversation {
        id,
        id_text,
        project_id,
        channel,
        closed_at,
        duration_seconds,
        csat,
        nps,
        transactions,
    });
}

/// A survey answer: null or absent is no answer; an integer outside `min..=max` or
/// anything but an integer is dropped with `reason`.
fn score(
    value: &Leaf<'_>,
    min: i64,
    max: i64,
    reason: InvalidReason,
    rejections: &mut Vec<InvalidReason>,
) -> Option<u8> {
    match value {
        Leaf::Absent | Leaf::Null => None,
        Leaf::Int(n) if (min..=max).contains(n) => u8::try_from(*n).ok(),
        _ => {
            rejections.push(reason);
            None
        }
    }
}

fn transactions(
    conversions: &Obj<Conversions<'_>>,
    rejections: &mut Vec<InvalidReason>,
) -> Vec<Transaction> {
    let list = match conversions {
        Obj::Absent | Obj::Null => return Vec::new(),
        Obj::Value(conversions) => match &conversions.transactions {
            List::Absent | List::Null => return Vec::new(),
            List::Items(list) => list,
            List::Other => {
                rejections.push(InvalidReason::BadTransaction);
                return Vec::new();
            }
        },
        Obj::Other => {
            rejections.push(InvalidReason::BadTransaction);
            return Vec::new();
        }
    };
    let mut valid = Vec::with_capacity(list.len());
    for item in list {
        match transaction(item) {
            Some(transaction) => valid.push(transaction),
            None => rejections.push(InvalidReason::BadTransaction),
        }
    }
    valid
}

/// What stands for a record without an id, so that the ledger counts its rejection once,
/// not at every poll that reads it again: the fields that do not change after the close
/// (answers and transactions do), the id as it was sent (absent, empty, a number) among
/// them. The NUL keeps it apart from any id a conversation could have.
fn content_key(conversation: &Node<'_>) -> Id128 {
    let text = format!(
        "\0no id\0{:?}\0{:?}\0{:?}\0{:?}\0{:?}\0{:?}",
        conversation.id,
        conversation.created_at,
        conversation.closed_at,
        conversation.channel,
        conversation.duration,
        // The project's id only: a renamed project is the same record.
        match &conversation.project {
            Obj::Value(project) => format!("{:?}", project.id),
            other => format!("{other:?}"),
        },
    );
    Id128::of(&text)
}

/// The largest amount taken: above any single order in any currency (10^12 rupiah is
/// about 60 M US dollars), and so far below `f64::MAX` that a trillion of them still sum
/// to a finite number. A larger amount is a bad transaction: counted, it would turn the
/// series' sum into `+Inf` for good, state file included.
pub const MAX_AMOUNT: f64 = 1e12;

fn transaction(item: &Obj<RawTransaction<'_>>) -> Option<Transaction> {
    let Obj::Value(item) = item else {
        return None;
    };
    let non_empty = |leaf: &'_ Leaf<'_>| leaf.as_str().filter(|s| !s.is_empty()).map(Id128::of);
    let key = non_empty(&item.id).or_else(|| non_empty(&item.external_conversion_id))?;
    let amount = match item.amount {
        Leaf::Int(n) if n >= 0 => n as f64,
        // `+ 0.0` turns -0.0 into 0.0, so a sum never prints as "-0".
        Leaf::Float(x) if x.is_finite() && x >= 0.0 => x + 0.0,
        _ => return None,
    };
    if amount > MAX_AMOUNT {
        return None;
    }
    let currency = Currency::parse(item.currency.as_str()?)?;
    Some(Transaction {
        key,
        amount,
        currency,
    })
}

impl Page {
    fn reject(&mut self, reason: InvalidReason, conversation_id: Option<Id128>) {
        self.rejections.push(Rejection {
            reason,
            conversation_id,
        });
    }
}

fields!(Envelope {
    data: Obj<Data<'a>> = "data",
    errors: List<Obj<GraphqlError<'a>>> = "errors",
});

fields!(Data {
    search_closed_conversations: Obj<Connection<'a>> = "searchClosedConversations",
    closed_conversations: Obj<Connection<'a>> = "closedConversations",
});

fields!(Connection {
    edges: List<Obj<Edge<'a>>> = "edges",
    page_info: Obj<PageInfo<'a>> = "pageInfo",
});

fields!(PageInfo {
    has_next_page: Leaf<'a> = "hasNextPage",
    end_cursor: Leaf<'a> = "endCursor",
});

fields!(Edge {
    node: Obj<Box<Node<'a>>> = "node",
});

// Both shapes in one struct: the search shape's node holds `conversation`, the other's
// node is the conversation.
fields!(Node {
    conversation: Obj<Box<Node<'a>>> = "conversation",
    id: Leaf<'a> = "id",
    created_at: Leaf<'a> = "createdAt",
    closed_at: Leaf<'a> = "closedAt",
    channel: Leaf<'a> = "channel",
    duration: Leaf<'a> = "duration",
    project: Obj<Project<'a>> = "project",
    satisfaction_survey: Obj<Survey<'a>> = "satisfactionSurvey",
    conversions: Obj<Conversions<'a>> = "conversions",
});

fields!(Project {
    id: Leaf<'a> = "id",
    name: Leaf<'a> = "name",
});

fields!(Survey {
    customer_satisfaction: Leaf<'a> = "customerSatisfaction",
    net_promoter_score: Leaf<'a> = "netPromoterScore",
});

fields!(Conversions {
    transactions: List<Obj<RawTransaction<'a>>> = "transactions",
});

fields!(RawTransaction {
    id: Leaf<'a> = "id",
    amount: Leaf<'a> = "amount",
    currency: Leaf<'a> = "currency",
    external_conversion_id: Leaf<'a> = "externalConversionId",
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iadvize::time_formats::tests::MAY_FIRST_10H;

    const SEARCH: QueryShape = QueryShape::SearchClosedConversations;
    const CLOSED: QueryShape = QueryShape::ClosedConversations;

    fn search_body(edges: &str) -> String {
        format!(
            r#"{{"data":{{"searchClosedConversations":{{"edges":[{edges}],
                "pageInfo":{{"hasNextPage":true,"endCursor":"c1"}}}}}}}}"#
        )
    }

    /// A search-shape edge around a conversation object's members.
    fn search_edge(conversation: &str, survey: &str, conversions: &str) -> String {
        format!(
            r#"{{"cursor":"x","node":{{"conversation":{{{conversation}}},
                "satisfactionSurvey":{survey},"conversions":{conversions}}}}}"#
        )
    }

    const GOOD: &str = r#""id":"c-1","createdAt":"2024-05-01T09:50:00Z",
        "closedAt":"2024-05-01T10:00:00Z","channel":"CHAT","duration":"PT12M34S",
        "project":{"id":42}"#;

    fn parse_one(conversation: &str, survey: &str, conversions: &str) -> Page {
        let body = search_body(&search_edge(conversation, survey, conversions));
        parse_page(body.as_bytes(), SEARCH).unwrap()
    }

    fn reasons(page: &Page) -> Vec<(InvalidReason, Option<Id128>)> {
        page.rejections
            .iter()
            .map(|r| (r.reason, r.conversation_id))
            .collect()
    }

    /// Expected rejections, with ids as text.
    fn expect(list: Vec<(InvalidReason, Option<&str>)>) -> Vec<(InvalidReason, Option<Id128>)> {
        list.into_iter()
            .map(|(r, id)| (r, id.map(Id128::of)))
            .collect()
    }

    #[test]
    fn a_full_search_record() {
        let page = parse_one(
            GOOD,
            r#"{"customerSatisfaction":4,"netPromoterScore":9,"comment":null}"#,
            r#"{"transactions":[
                {"id":"t-1","amount":12.5,"currency":"eur","externalConversionId":"o-1"},
                {"id":null,"amount":3,"currency":"USD","externalConversionId":"o-2"}]}"#,
        );
        assert_eq!(page.records, 1);
        assert!(page.has_next_page);
        assert_eq!(page.end_cursor.as_deref(), Some("c1"));
        assert_eq!(page.rejections, vec![]);
        assert_eq!(
            page.conversations,
            vec![Conversation {
                id: Id128::of("c-1"),
                id_text: Some("c-1".into()),
                project_id: 42,
                channel: 0,
                closed_at: MAY_FIRST_10H,
                duration_seconds: Some(754.0),
                csat: Some(4),
                nps: Some(9),
                transactions: vec![
                    Transaction {
                        key: Id128::of("t-1"),
                        amount: 12.5,
                        currency: Currency(*b"EUR")
                    },
                    Transaction {
                        key: Id128::of("o-2"),
                        amount: 3.0,
                        currency: Currency(*b"USD")
                    },
                ],
            }]
        );
    }

    #[test]
    fn a_closed_conversations_record() {
        let body = r#"{"data":{"closedConversations":{"edges":[{"node":{
            "id":"c-2","createdAt":"2024-05-01T09:30:00Z","closedAt":"2024-05-01T10:00:00Z",
            "channel":"WHATSAPP","duration":null,"project":{"id":7},
            "satisfactionSurvey":{"customerSatisfaction":null,"netPromoterScore":0},
            "conversions":null}}],"pageInfo":{"hasNextPage":false,"endCursor":null}}}}"#;
        let page = parse_page(body.as_bytes(), CLOSED).unwrap();
        assert!(!page.has_next_page);
        assert_eq!(page.end_cursor, None);
        assert_eq!(
            page.conversations,
            vec![Conversation {
                id: Id128::of("c-2"),
                id_text: Some("c-2".into()),
                project_id: 7,
                channel: 0,
                closed_at: MAY_FIRST_10H,
                // Null duration: 30 minutes between createdAt and closedAt.
                duration_seconds: Some(1800.0),
                csat: None,
                nps: Some(0),
                transactions: vec![],
            }]
        );
        assert!(page.rejections.is_empty());
        // The same body read as the other shape has no usable connection.
        assert!(matches!(
            parse_page(body.as_bytes(), SEARCH),
            Err(Error::InvalidResponse(_))
        ));
    }

    #[test]
    fn records_are_skipped_for_bad_required_fields() {
        let edges = [
            // 1: node not an object
            r#"{"node":"nope"}"#.to_owned(),
            // 2: edge not an object
            "null".to_owned(),
            // 3: conversation not an object
            r#"{"node":{"conversation":[1]}}"#.to_owned(),
            // 4: no id
            search_edge(
                r#""closedAt":"2024-05-01T10:00:00Z","project":{"id":1}"#,
                "null",
                "null",
            ),
            // 5: empty id
            search_edge(
                r#""id":"","closedAt":"2024-05-01T10:00:00Z","project":{"id":1}"#,
                "null",
                "null",
            ),
            // 6: numeric id
            search_edge(
                r#""id":5,"closedAt":"2024-05-01T10:00:00Z","project":{"id":1}"#,
                "null",
                "null",
            ),
            // 7: project null
            search_edge(
                r#""id":"a","closedAt":"2024-05-01T10:00:00Z","project":null"#,
                "null",
                "null",
            ),
            // 8: project id a string
            search_edge(
                r#""id":"b","closedAt":"2024-05-01T10:00:00Z","project":{"id":"1"}"#,
                "null",
                "null",
            ),
            // 9: project id a float
            search_edge(
                r#""id":"c","closedAt":"2024-05-01T10:00:00Z","project":{"id":1.5}"#,
                "null",
                "null",
            ),
            // 10: closedAt null
            search_edge(
                r#""id":"d","closedAt":null,"project":{"id":1}"#,
                "null",
                "null",
            ),
            // 11: closedAt not RFC 3339
            search_edge(
                r#""id":"e","closedAt":"yesterday","project":{"id":1}"#,
                "null",
                "null",
            ),
            // 12: valid, minimal
            search_edge(
                r#""id":"f","closedAt":"2024-05-01T10:00:00Z","createdAt":"2024-05-01T10:00:00Z","project":{"id":1}"#,
                "null",
                "null",
            ),
        ];
        let body = search_body(&edges.join(","));
        let page = parse_page(body.as_bytes(), SEARCH).unwrap();
        assert_eq!(page.records, 12);
        use InvalidReason::*;
        // A record without an id carries a key made of its content, one per record.
        let got = reasons(&page);
        let keys: Vec<Id128> = got
            .iter()
            .filter(|(reason, _)| *reason == MissingId)
            .filter_map(|(_, key)| *key)
            .collect();
        assert_eq!(keys.len(), 3);
        assert!(keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2]);
        let got: Vec<_> = got
            .into_iter()
            .map(|(reason, key)| (reason, key.filter(|_| reason != MissingId)))
            .collect();
        assert_eq!(
            got,
            expect(vec![
                (Malformed, None),
                (Malformed, None),
                (Malformed, None),
                (MissingId, None),
                (MissingId, None),
                (MissingId, None),
                (MissingProject, Some("a")),
                (MissingProject, Some("b")),
                (MissingProject, Some("c")),
                (BadClosedAt, Some("d")),
                (BadClosedAt, Some("e")),
            ])
        );
        assert_eq!(page.conversations.len(), 1);
        assert_eq!(page.conversations[0].id, Id128::of("f"));
        assert_eq!(page.channel(&page.conversations[0]), "");
        assert_eq!(page.conversations[0].duration_seconds, Some(0.0));
    }

    #[test]
    fn an_amount_past_the_bound_is_a_bad_transaction() {
        let page = parse_one(
            r#""id":"a","closedAt":"2024-05-01T10:00:00Z","createdAt":"2024-05-01T10:00:00Z",
               "project":{"id":1}"#,
            "null",
            r#"{"transactions":[
                {"id":"t1","amount":1e308,"currency":"EUR","externalConversionId":"o1"},
                {"id":"t2","amount":1000000000001,"currency":"EUR","externalConversionId":"o2"},
                {"id":"t3","amount":1e12,"currency":"EUR","externalConversionId":"o3"}]}"#,
        );
        let c = &page.conversations[0];
        assert_eq!(c.transactions.len(), 1);
        assert_eq!(c.transactions[0].amount, 1e12);
        assert_eq!(
            reasons(&page),
            expect(vec![
                (InvalidReason::BadTransaction, Some("a")),
                (InvalidReason::BadTransaction, Some("a")),
            ])
        );
    }

    #[test]
    fn a_non_string_channel_keeps_the_record() {
        let page = parse_one(
            r#""id":"a","closedAt":"2024-05-01T10:00:00Z","createdAt":"2024-05-01T10:00:00Z",
               "project":{"id":1},"channel":17"#,
            "null",
            "null",
        );
        assert_eq!(page.channel(&page.conversations[0]), "");
        assert!(page.rejections.is_empty());
    }

    fn duration_of(created_at: &str, duration: &str) -> (Option<f64>, Vec<InvalidReason>) {
        let conversation = format!(
            r#""id":"a","closedAt":"2024-05-01T10:00:00Z","createdAt":{created_at},
               "duration":{duration},"project":{{"id":1}}"#
        );
        let page = parse_one(&conversation, "null", "null");
        let rejections = page.rejections.iter().map(|r| r.reason).collect();
        (page.conversations[0].duration_seconds, rejections)
    }

    #[test]
    fn duration_rules() {
        use InvalidReason::*;
        let created = r#""2024-05-01T09:30:00Z""#;
        assert_eq!(
            duration_of(created, r#""PT1H2M3.5S""#),
            (Some(3723.5), vec![])
        );
        assert_eq!(duration_of(created, r#""754""#), (Some(754.0), vec![]));
        assert_eq!(duration_of(created, "754.5"), (Some(754.5), vec![]));
        assert_eq!(duration_of(created, "0"), (Some(0.0), vec![]));
        // Null: closedAt - createdAt, with millisecond precision.
        assert_eq!(duration_of(created, "null"), (Some(1800.0), vec![]));
        assert_eq!(
            duration_of(r#""2024-05-01T09:59:58.250Z""#, "null"),
            (Some(1.75), vec![])
        );
        // Bad or negative: rejected, then the same fallback.
        assert_eq!(
            duration_of(created, r#""P1Y""#),
            (Some(1800.0), vec![BadDuration])
        );
        assert_eq!(
            duration_of(created, "-5"),
            (Some(1800.0), vec![BadDuration])
        );
        assert_eq!(
            duration_of(created, r#""-5""#),
            (Some(1800.0), vec![BadDuration])
        );
        assert_eq!(
            duration_of(created, "true"),
            (Some(1800.0), vec![BadDuration])
        );
        // No fallback: createdAt unusable, or after closedAt.
        assert_eq!(duration_of("null", "null"), (None, vec![BadCreatedAt]));
        assert_eq!(
            duration_of(r#""soon""#, r#""x""#),
            (None, vec![BadCreatedAt, BadDuration])
        );
        assert_eq!(
            duration_of(r#""2024-05-01T10:00:01Z""#, "null"),
            (None, vec![])
        );
        // createdAt bad but duration fine: the duration stands.
        assert_eq!(
            duration_of("5", r#""PT10S""#),
            (Some(10.0), vec![BadCreatedAt])
        );
    }

    fn survey_of(survey: &str) -> (Option<u8>, Option<u8>, Vec<InvalidReason>) {
        let page = parse_one(GOOD, survey, "null");
        let c = &page.conversations[0];
        assert!(
            page.rejections
                .iter()
                .all(|r| r.conversation_id == Some(Id128::of("c-1")))
        );
        (
            c.csat,
            c.nps,
            page.rejections.iter().map(|r| r.reason).collect(),
        )
    }

    #[test]
    fn survey_rules() {
        use InvalidReason::*;
        assert_eq!(survey_of("null"), (None, None, vec![]));
        assert_eq!(survey_of("{}"), (None, None, vec![]));
        assert_eq!(
            survey_of(r#"{"customerSatisfaction":1,"netPromoterScore":10}"#),
            (Some(1), Some(10), vec![])
        );
        assert_eq!(
            survey_of(r#"{"customerSatisfaction":5,"netPromoterScore":0}"#),
            (Some(5), Some(0), vec![])
        );
        for bad_csat in [
            "0",
            "7",
            "3.5",
            r#""4""#,
            "-1",
            "true",
            "4.0",
            "99999999999999999999",
        ] {
            let survey = format!(r#"{{"customerSatisfaction":{bad_csat},"netPromoterScore":8}}"#);
            assert_eq!(
                survey_of(&survey),
                (None, Some(8), vec![BadCsat]),
                "{bad_csat}"
            );
        }
        for bad_nps in ["11", "-1", "9.5", r#""9""#, "[9]"] {
            let survey = format!(r#"{{"customerSatisfaction":2,"netPromoterScore":{bad_nps}}}"#);
            assert_eq!(
                survey_of(&survey),
                (Some(2), None, vec![BadNps]),
                "{bad_nps}"
            );
        }
        assert_eq!(survey_of("[]"), (None, None, vec![BadCsat, BadNps]));
    }

    fn transactions_of(conversions: &str) -> (Vec<Transaction>, usize) {
        let page = parse_one(GOOD, "null", conversions);
        let bad = page
            .rejections
            .iter()
            .filter(|r| r.reason == InvalidReason::BadTransaction)
            .count();
        assert_eq!(bad, page.rejections.len());
        (page.conversations[0].transactions.clone(), bad)
    }

    fn tx(key: &str, amount: f64, currency: &str) -> Transaction {
        Transaction {
            key: Id128::of(key),
            amount,
            currency: Currency::parse(currency).unwrap(),
        }
    }

    #[test]
    fn transaction_rules() {
        assert_eq!(transactions_of("null"), (vec![], 0));
        assert_eq!(transactions_of(r#"{"transactions":null}"#), (vec![], 0));
        assert_eq!(transactions_of(r#"{"transactions":[]}"#), (vec![], 0));
        assert_eq!(transactions_of(r#"{"transactions":{}}"#), (vec![], 1));
        assert_eq!(transactions_of("7"), (vec![], 1));
        let list = r#"{"transactions":[
            {"id":"t1","amount":10,"currency":"EUR","externalConversionId":"o1"},
            {"id":"","amount":0,"currency":"gbp","externalConversionId":"o2"},
            {"amount":-0.0,"currency":"Chf","externalConversionId":"o3"},
            {"id":null,"amount":5,"currency":"EUR","externalConversionId":""},
            {"id":"t5","amount":-1,"currency":"EUR"},
            {"id":"t6","amount":"5","currency":"EUR"},
            {"id":"t7","amount":null,"currency":"EUR"},
            {"id":"t8","amount":5,"currency":"EURO"},
            {"id":"t9","amount":5,"currency":"E1R"},
            {"id":"t10","amount":5,"currency":null},
            {"id":"t11","amount":5,"currency":"ÉUR"},
            {"id":"t12","currency":"EUR"},
            "t13",
            {"id":"t14","amount":1e308,"currency":"usd"}
        ]}"#;
        let (valid, bad) = transactions_of(list);
        assert_eq!(
            valid,
            vec![
                tx("t1", 10.0, "EUR"),
                tx("o2", 0.0, "GBP"),
                tx("o3", 0.0, "CHF"),
            ]
        );
        assert!(valid[2].amount.is_sign_positive(), "-0.0 becomes 0.0");
        // t14's 1e308 is past MAX_AMOUNT: two of them would sum to +Inf for good.
        assert_eq!(bad, 11);
    }

    #[test]
    fn graphql_errors_fail_the_page() {
        let body = br#"{"data":null,"errors":[{"message":"denied",
            "extensions":{"name":"PERMISSION_DENIED","retryPolicy":"NO_RETRY"}}]}"#;
        match parse_page(body, SEARCH) {
            Err(Error::Graphql {
                name,
                message,
                retryable,
            }) => {
                assert_eq!(name, "PERMISSION_DENIED");
                assert_eq!(message, "denied");
                assert!(!retryable);
            }
            other => panic!("{other:?}"),
        }

        // Beside usable data, with a retry policy, and the deprecated `code`.
        let body = br#"{"data":{"searchClosedConversations":{"edges":[],
            "pageInfo":{"hasNextPage":false}}},
            "errors":[{"message":"slow","extensions":{"code":"TIMEOUT","retryPolicy":"RETRY"}},
                      {"message":"again","extensions":{"retryPolicy":"RETRY_LATER"}}]}"#;
        match parse_page(body, SEARCH) {
            Err(Error::Graphql {
                name,
                message,
                retryable,
            }) => {
                assert_eq!(name, "TIMEOUT");
                assert_eq!(message, "slow; again");
                assert!(retryable);
            }
            other => panic!("{other:?}"),
        }

        // No retry policy at all: not retryable; one NO_RETRY among others: not retryable.
        let body = br#"{"errors":[{"message":"x"}]}"#;
        assert!(matches!(
            parse_page(body, SEARCH),
            Err(Error::Graphql { retryable: false, ref name, .. }) if name == "UNKNOWN"
        ));
        let body = br#"{"errors":[{"extensions":{"retryPolicy":"RETRY"}},
                                  {"extensions":{"retryPolicy":"NO_RETRY"}}]}"#;
        assert!(matches!(
            parse_page(body, SEARCH),
            Err(Error::Graphql {
                retryable: false,
                ..
            })
        ));

        // An empty errors list is no error.
        let body = br#"{"errors":[],"data":{"searchClosedConversations":{"edges":[],
            "pageInfo":{"hasNextPage":false,"endCursor":null}}}}"#;
        assert_eq!(parse_page(body, SEARCH).unwrap(), Page::default());
    }

    #[test]
    fn long_error_messages_are_truncated() {
        let long = "é".repeat(600);
        let body = format!(r#"{{"errors":[{{"message":"{long}"}}]}}"#);
        let Err(Error::Graphql { message, .. }) = parse_page(body.as_bytes(), SEARCH) else {
            panic!("expected a GraphQL error");
        };
        assert_eq!(message.chars().count(), 503);
        assert!(message.ends_with("é..."));
    }

    #[test]
    fn unusable_envelopes() {
        let invalid_bodies: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"not json".to_vec(),
            b"{\"data\":".to_vec(),
            b"[]".to_vec(),
            b"null".to_vec(),
            b"{}".to_vec(),
            br#"{"data":null}"#.to_vec(),
            br#"{"data":{"searchClosedConversations":null}}"#.to_vec(),
            br#"{"data":{"searchClosedConversations":{"pageInfo":{"hasNextPage":false}}}}"#.to_vec(),
            br#"{"data":{"searchClosedConversations":{"edges":{},"pageInfo":{"hasNextPage":false}}}}"#.to_vec(),
            br#"{"data":{"searchClosedConversations":{"edges":[]}}}"#.to_vec(),
            br#"{"data":{"searchClosedConversations":{"edges":[],"pageInfo":{}}}}"#.to_vec(),
            br#"{"data":{"searchClosedConversations":{"edges":[],"pageInfo":{"hasNextPage":"no"}}}}"#.to_vec(),
            br#"{"data":{"searchClosedConversations":{"edges":[],"pageInfo":{"hasNextPage":true,"endCursor":5}}}}"#.to_vec(),
            br#"{"errors":"boom"}"#.to_vec(),
            // Invalid UTF-8 inside a string.
            b"{\"data\":\"\xff\xfe\"}".to_vec(),
            // Trailing garbage.
            br#"{"data":{}} x"#.to_vec(),
            // A number beyond f64 (a serde_json limit: the whole body is refused).
            search_body(&search_edge(r#""id":"a","closedAt":"2024-05-01T10:00:00Z","project":{"id":1}"#, "null", r#"{"transactions":[{"amount":1e400}]}"#)).into_bytes(),
            // Nesting deeper than serde_json's limit.
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
        ];
        for body in invalid_bodies {
            match parse_page(&body, SEARCH) {
                Err(Error::InvalidResponse(_)) => {}
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(&body)),
            }
        }
    }

    #[test]
    fn escaped_strings_and_repeated_keys() {
        let page = parse_one(
            r#""id":"c\u002d9","id":"c\"10","closedAt":"2024-05-01T10:00:00Z",
               "createdAt":"2024-05-01T10:00:00Z","project":{"id":1},"channel":"CH\u0041T""#,
            "null",
            "null",
        );
        // The last of repeated keys wins; escapes are decoded.
        assert_eq!(page.conversations[0].id, Id128::of("c\"10"));
        assert_eq!(page.channel(&page.conversations[0]), "CHAT");
    }

    /// Random edits of a valid page: never a panic, and every page that parses keeps the
    /// invariants the rest of the exporter relies on.
    #[test]
    fn mutated_pages_keep_the_invariants() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};

        let edge = search_edge(
            GOOD,
            r#"{"customerSatisfaction":4,"netPromoterScore":9}"#,
            r#"{"transactions":[{"id":"t-1","amount":12.5,"currency":"EUR","externalConversionId":"o"}]}"#,
        );
        let valid = search_body(&[edge.as_str(), edge.as_str(), edge.as_str()].join(","));
        let alphabet = b"{}[]:,\"0123456789.-eEZTPSMHD nultrfa";
        let mut rng = StdRng::seed_from_u64(7);
        let mut parsed = 0;
        for _ in 0..3000 {
            let mut body = valid.clone().into_bytes();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..body.len());
                match rng.random_range(0..3) {
                    0 => body[at] = alphabet[rng.random_range(0..alphabet.len())],
                    1 => {
                        body.remove(at);
                    }
                    _ => body.insert(at, alphabet[rng.random_range(0..alphabet.len())]),
                }
            }
            for shape in [SEARCH, CLOSED] {
                let Ok(page) = parse_page(&body, shape) else {
                    continue;
                };
                parsed += 1;
                let skipped = page
                    .rejections
                    .iter()
                    .filter(|r| r.reason.skips_record())
                    .count();
                assert_eq!(page.conversations.len() + skipped, page.records);
                for c in &page.conversations {
                    assert!((usize::from(c.channel)) < page.channels.len());
                    assert!(c.csat.is_none_or(|v| (1..=5).contains(&v)));
                    assert!(c.nps.is_none_or(|v| v <= 10));
                    assert!(c.duration_seconds.is_none_or(|d| d.is_finite() && d >= 0.0));
                    for t in &c.transactions {
                        assert!(t.amount.is_finite() && t.amount >= 0.0);
                        assert!(t.currency.0.iter().all(|b| b.is_ascii_uppercase()));
                    }
                }
            }
        }
        // The edits are small: most bodies stay JSON, so the invariants were exercised.
        assert!(parsed > 300, "{parsed}");
    }
}
