//! Each value parser, through the flag it checks.

use super::*;

#[test]
fn query_and_platform_values() {
    let c = run_config(
        &with_token(&["--iadvize.query", "searchClosedConversations"]),
        &[],
    );
    assert_eq!(
        c.client.query,
        QueryChoice::Fixed(QueryShape::SearchClosedConversations)
    );
    let c = run_config(&with_token(&["--iadvize.platform", "ha"]), &[]);
    assert!(!c.client.platform_sd);
}

fn assert_flag_error(args: &[&str], flag: &'static str) {
    let err = error(&with_token(args), &[]);
    assert_eq!(err.exit_code(), 2, "{err}");
    match &err {
        ConfigError::Invalid { place, .. } => assert_eq!(place, &Place::Flag(flag)),
        other => panic!("expected Invalid for --{flag}, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(&format!("--{flag}")), "{message}");
    assert!(message.contains("expected"), "{message}");
}

#[test]
fn bad_values_name_the_flag() {
    assert_flag_error(&["--poll.interval", "5"], "poll.interval");
    assert_flag_error(&["--poll.interval", "fast"], "poll.interval");
    assert_flag_error(&["--poll.interval", "0s"], "poll.interval");
    assert_flag_error(&["--metrics.window", "0s"], "metrics.window");
    assert_flag_error(&["--iadvize.timeout", "0s"], "iadvize.timeout");
    assert_flag_error(
        &["--iadvize.max-retry-after", "soon"],
        "iadvize.max-retry-after",
    );
    assert_flag_error(&["--poll.revisit-interval", "0m"], "poll.revisit-interval");
    assert_flag_error(&["--iadvize.url", "ftp://x.example"], "iadvize.url");
    assert_flag_error(&["--iadvize.url", "not a url"], "iadvize.url");
    assert_flag_error(&["--iadvize.url", "https://u:p@x.example"], "iadvize.url");
    assert_flag_error(&["--iadvize.platform", "eu"], "iadvize.platform");
    assert_flag_error(&["--iadvize.query", "closed"], "iadvize.query");
    assert_flag_error(&["--iadvize.project-ids", "1,x"], "iadvize.project-ids");
    assert_flag_error(&["--iadvize.project-ids", "0"], "iadvize.project-ids");
    assert_flag_error(&["--iadvize.project-ids=-3"], "iadvize.project-ids");
    assert_flag_error(&["--iadvize.project-ids", "1,,2"], "iadvize.project-ids");
    assert_flag_error(
        &["--iadvize.max-requests-per-second", "0"],
        "iadvize.max-requests-per-second",
    );
    assert_flag_error(
        &["--iadvize.max-requests-per-second", "inf"],
        "iadvize.max-requests-per-second",
    );
    assert_flag_error(
        &["--metrics.duration-buckets", "30,60,60"],
        "metrics.duration-buckets",
    );
    assert_flag_error(
        &["--metrics.duration-buckets", "60,30"],
        "metrics.duration-buckets",
    );
    assert_flag_error(
        &["--metrics.duration-buckets", ""],
        "metrics.duration-buckets",
    );
    assert_flag_error(
        &["--metrics.amount-buckets", "1,inf"],
        "metrics.amount-buckets",
    );
    assert_flag_error(
        &["--metrics.amount-buckets", "1,NaN"],
        "metrics.amount-buckets",
    );
    assert_flag_error(&["--metrics.max-channels", "0"], "metrics.max-channels");
    assert_flag_error(&["--metrics.max-currencies=-1"], "metrics.max-currencies");
    assert_flag_error(&["--metrics.max-tags", "0"], "metrics.max-tags");
    assert_flag_error(&["--metrics.tags", "VIP,all"], "metrics.tags");
    assert_flag_error(&["--web.listen-address", "9834"], "web.listen-address");
    assert_flag_error(&["--web.listen-address", ":99999"], "web.listen-address");
    assert_flag_error(&["--web.listen-address", "::1:80"], "web.listen-address");
    assert_flag_error(&["--web.telemetry-path", "metrics"], "web.telemetry-path");
    assert_flag_error(&["--web.telemetry-path", "/"], "web.telemetry-path");
    assert_flag_error(
        &["--web.telemetry-path", "/-/healthy"],
        "web.telemetry-path",
    );
    assert_flag_error(&["--web.telemetry-path", "/-/ready"], "web.telemetry-path");
    assert_flag_error(&["--log.level", "verbose"], "log.level");
    assert_flag_error(&["--log.format", "text"], "log.format");
    assert_flag_error(&["--state.file", ""], "state.file");
}

#[test]
fn listen_addresses() {
    let listen = |addr: &str| {
        run_config(&with_token(&["--web.listen-address", addr]), &[])
            .web
            .listen_address
    };
    assert_eq!(
        listen(":9834"),
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9834)
    );
    assert_eq!(
        listen("localhost:9100"),
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9100)
    );
    assert_eq!(
        listen("[::1]:9000"),
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 9000)
    );
    assert_eq!(
        listen("0.0.0.0:0"),
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    );
}

#[test]
fn url_trailing_slash_is_stripped() {
    let url = |u: &str| {
        run_config(&with_token(&["--iadvize.url", u]), &[])
            .client
            .base_url
            .to_string()
    };
    assert_eq!(url("https://x.example/api/"), "https://x.example/api");
    assert_eq!(url("https://x.example/api//"), "https://x.example/api");
    assert_eq!(url("https://x.example/"), "https://x.example/");
    assert_eq!(url("http://10.0.0.1:8080"), "http://10.0.0.1:8080/");
}

#[test]
fn project_ids_all_reads_every_project() {
    let c = run_config(&with_token(&["--iadvize.project-ids", "all"]), &[]);
    assert_eq!(c.client.project_ids, None);
    let c = run_config(&with_token(&["--iadvize.project-ids", "5,3,5"]), &[]);
    assert_eq!(c.client.project_ids, Some(vec![5, 3]));
}

#[test]
fn tags_are_a_list_all_or_off() {
    let tags =
        |args: &[&str], env: &[(&str, &str)]| run_config(&with_token(args), env).metrics.tags;
    assert_eq!(tags(&["--metrics.tags", "all"], &[]), TagFilter::All);
    assert_eq!(tags(&["--metrics.tags", " all "], &[]), TagFilter::All);
    assert_eq!(
        tags(
            &["--metrics.tags", "Livraison,,  Retour   produit ,LIVRAISON"],
            &[]
        ),
        TagFilter::List(vec!["livraison".into(), "retour produit".into()])
    );
    // A tag called like the keyword, in another case, is a name.
    assert_eq!(
        tags(&["--metrics.tags", "All"], &[]),
        TagFilter::List(vec!["all".into()])
    );
    assert_eq!(tags(&["--metrics.tags", ""], &[]), TagFilter::Off);
    assert_eq!(tags(&["--metrics.tags", " , "], &[]), TagFilter::Off);
    assert_eq!(
        tags(&[], &[("IADVIZE_METRICS_TAGS", "VIP")]),
        TagFilter::List(vec!["vip".into()])
    );
    let file = TempFile::new("metrics:\n  tags: [Livraison, VIP]\n  max-tags: 7\n");
    let c = run_config(&with_token(&["--config.file", file.path()]), &[]);
    assert_eq!(
        c.metrics.tags,
        TagFilter::List(vec!["livraison".into(), "vip".into()])
    );
    assert_eq!(c.metrics.max_tags, 7);
}
