//! Tags against the simulated account over real HTTP: case variants, accents, stray white
//! space, a name longer than a label, tags added after the close. Every tag counter and
//! window gauge must equal the simulator's ground truth, under both query shapes, with an
//! allowlist, past the cap, and across restarts with a state file.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::{
    DEMO_PASSWORD, Exporter, ExporterProcess, Exposition, agrees, diff, eventually,
    expected_from_truth, fast_poll_flags, free_port, key, sleep_until_unix, start_sim,
};
use iadvize_exporter::simulator::{SimConfig, TagRow, Truth};
use iadvize_exporter::state_file as state;

const COUNTER: &str = "iadvize_conversation_tags_total";
const WINDOW: &str = "iadvize_window_conversation_tags";

/// About 1,000 conversations over 4 s, three in five tagged, one tagged in four gaining a
/// tag a few simulated minutes after its close.
fn tagged_account(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        speed: 60.0,
        rate_per_hour: 250.0,
        history: Duration::ZERO,
        traffic_duration: Some(Duration::from_secs(4)),
        max_transaction_delay_hours: 1.0,
        ..SimConfig::default()
    }
}

/// The samples of `family` the truth's rows give, keeping the tags `counted` accepts.
fn expected(
    family: &str,
    rows: &[TagRow],
    counted: impl Fn(&str) -> bool,
) -> BTreeMap<String, f64> {
    rows.iter()
        .filter(|r| r.count > 0 && counted(&r.tag))
        .map(|r| {
            let labels = [
                ("project_id", r.project_id.as_str()),
                ("tag", r.tag.as_str()),
            ];
            (key(family, &labels), r.count as f64)
        })
        .collect()
}

/// Both tag families of a scrape agree with the truth: counters from `since`, the
/// window from an hour before.
fn tags_agree(
    scrape: &Exposition,
    counted_truth: &Truth,
    window_truth: &Truth,
    counted: impl Fn(&str) -> bool + Copy,
) -> Result<(), String> {
    let d = [
        diff(
            &scrape.family(COUNTER),
            &expected(COUNTER, &counted_truth.tags, counted),
        ),
        diff(
            &scrape.family(WINDOW),
            &expected(WINDOW, &window_truth.tags, counted),
        ),
    ]
    .join("\n");
    if d.trim().is_empty() { Ok(()) } else { Err(d) }
}

/// The labels the dataset must have for the test to mean something.
fn assert_the_dataset_is_hostile(truth: &Truth) {
    let labels: BTreeSet<&str> = truth.tags.iter().map(|r| r.tag.as_str()).collect();
    for label in [
        "Livraison",
        "livraison",
        "Réclamation",
        "Retour produit",
        "VIP",
    ] {
        assert!(labels.contains(label), "{label} not in {labels:?}");
    }
    assert!(
        labels.iter().any(|l| l.chars().count() == 64),
        "a name cut to 64 characters: {labels:?}"
    );
    let pairs: u64 = truth.tags.iter().map(|r| r.count).sum();
    assert!(pairs > 300, "enough pairs: {pairs}");
}

async fn tags_match_the_truth(query: &str, seed: u64) {
    let sim = start_sim(tagged_account(seed)).await;
    let flags = fast_poll_flags(
        &sim.base_url(),
        &["--iadvize.query", query, "--metrics.tags", "all"],
    );
    let exporter = Exporter::start(&flags, &DEMO_PASSWORD).await;
    sleep_until_unix(sim.complete_at().expect("finite traffic")).await;
    let since = exporter.counting_start_seconds();
    let counted = sim.truth(since, None);
    let window = sim.truth(since - 3600.0, None);
    assert_the_dataset_is_hostile(&counted);

    eventually(Duration::from_secs(30), "tags equal the truth", || async {
        tags_agree(&exporter.scrape().await, &counted, &window, |_| true)
    })
    .await;
    // Later polls and revisits read the same tags again: nothing moves.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let scrape = exporter.scrape().await;
    assert_eq!(tags_agree(&scrape, &counted, &window, |_| true), Ok(()));
    // The other counters are exact too.
    assert_eq!(agrees(&scrape, &expected_from_truth(&counted)), Ok(()));
    exporter.stop().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_shape_counts_tags_exactly() {
    tags_match_the_truth("searchClosedConversations", 41).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_shape_counts_tags_exactly() {
    tags_match_the_truth("closedConversations", 42).await;
}

/// Two exporters on one account: one with an allowlist in other cases than the tags,
/// one counting every tag with room for three labels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowlist_ignores_case_and_the_cap_folds_into_other() {
    let sim = start_sim(tagged_account(43)).await;
    let url = sim.base_url();
    let listed = Exporter::start(
        &fast_poll_flags(
            &url,
            &["--metrics.tags", "LIVRAISON, vip ,retour   produit"],
        ),
        &DEMO_PASSWORD,
    )
    .await;
    let capped = Exporter::start(
        &fast_poll_flags(&url, &["--metrics.tags", "all", "--metrics.max-tags", "3"]),
        &DEMO_PASSWORD,
    )
    .await;
    sleep_until_unix(sim.complete_at().expect("finite traffic")).await;

    // The allowlist: both spellings of Livraison, each its own series.
    let since = listed.counting_start_seconds();
    let counted = sim.truth(since, None);
    let window = sim.truth(since - 3600.0, None);
    assert_the_dataset_is_hostile(&counted);
    let listed_tag =
        |tag: &str| ["livraison", "vip", "retour produit"].contains(&tag.to_lowercase().as_str());
    eventually(
        Duration::from_secs(30),
        "listed tags equal the truth",
        || async { tags_agree(&listed.scrape().await, &counted, &window, listed_tag) },
    )
    .await;
    let scrape = listed.scrape().await;
    assert!(
        scrape
            .family(COUNTER)
            .keys()
            .any(|k| k.contains("tag=\"livraison\""))
    );
    assert!(
        scrape
            .family(COUNTER)
            .keys()
            .any(|k| k.contains("tag=\"Livraison\""))
    );

    // The cap: three tags keep their name, every other pair is counted in `other`, so
    // each project's counts still sum to its pairs.
    let since = capped.counting_start_seconds();
    let counted = sim.truth(since, None);
    let window = sim.truth(since - 3600.0, None);
    let folded = |family: &str, truth: &Truth, scrape: &Exposition| -> Result<(), String> {
        let shown = scrape.family(family);
        let named: BTreeSet<String> = shown
            .keys()
            .filter_map(|k| {
                k.split("tag=\"")
                    .nth(1)?
                    .strip_suffix("\"}")
                    .map(str::to_owned)
            })
            .filter(|tag| tag != "other")
            .collect();
        if named.len() != 3 {
            return Err(format!("{family}: {} named tags: {named:?}", named.len()));
        }
        let mut want: BTreeMap<String, f64> = BTreeMap::new();
        for r in &truth.tags {
            let tag = if named.contains(&r.tag) {
                r.tag.as_str()
            } else {
                "other"
            };
            let labels = [("project_id", r.project_id.as_str()), ("tag", tag)];
            *want.entry(key(family, &labels)).or_default() += r.count as f64;
        }
        let d = diff(&shown, &want);
        if d.is_empty() { Ok(()) } else { Err(d) }
    };
    eventually(
        Duration::from_secs(30),
        "capped tags equal the truth",
        || async {
            let scrape = capped.scrape().await;
            folded(COUNTER, &counted, &scrape)?;
            folded(WINDOW, &window, &scrape)
        },
    )
    .await;
    // The same three names in both families: a label is fixed when first seen.
    let scrape = capped.scrape().await;
    let names = |family: &str| -> BTreeSet<String> {
        scrape
            .family(family)
            .keys()
            .filter_map(|k| k.split("tag=\"").nth(1).map(str::to_owned))
            .collect()
    };
    assert!(names(WINDOW).is_subset(&names(COUNTER)));
    listed.stop().await.unwrap();
    capped.stop().await.unwrap();
    sim.shutdown().await;
}

fn spawn(sim_url: &str, port: u16, state_file: &Path) -> ExporterProcess {
    let flags = fast_poll_flags(
        sim_url,
        &[
            "--log.level",
            "warn",
            "--metrics.tags",
            "all",
            "--state.file",
            state_file.to_str().unwrap(),
        ],
    );
    ExporterProcess::spawn_on(port, &flags, &DEMO_PASSWORD)
}

/// Killed with SIGKILL while tags arrive, restarted from the state file: no pair lost,
/// none counted twice. Then restarted with the account gone: the counts and the project
/// names come from the file alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_neither_lose_nor_double_count_tags_and_keep_project_names() {
    let sim = start_sim(SimConfig {
        traffic_duration: Some(Duration::from_secs(8)),
        rate_per_hour: 150.0,
        ..tagged_account(44)
    })
    .await;
    let url = sim.base_url();
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.bin");
    let port = free_port();
    let mut child = spawn(&url, port, &state_file);
    let since = eventually(Duration::from_secs(15), "a first state file", || async {
        match state::load(&state_file) {
            Ok(Some(saved)) => Ok(saved.ledger.counting_start() as f64 / 1000.0),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    for pause in [1200, 1700, 900] {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        child.kill();
        child = spawn(&url, port, &state_file);
    }
    sleep_until_unix(sim.complete_at().unwrap()).await;
    let counted = sim.truth(since, None);
    let window = sim.truth(since - 3600.0, None);
    assert_the_dataset_is_hostile(&counted);
    eventually(
        Duration::from_secs(40),
        "exact tags after restarts",
        || async { tags_agree(&child.scrape().await?, &counted, &window, |_| true) },
    )
    .await;

    child.terminate();
    let finished = child.wait(Duration::from_secs(5)).await;
    assert_eq!(finished.code(), Some(0), "{finished}");
    let saved = state::load(&state_file).unwrap().unwrap();
    let saved_names = saved.ledger.project_names().clone();
    sim.shutdown().await;

    // No account to read: what the exporter shows is the file's.
    let mut child = spawn(&url, port, &state_file);
    let scrape = eventually(Duration::from_secs(10), "restored tags", || async {
        let scrape = child.scrape().await?;
        tags_agree(&scrape, &counted, &window, |_| true).map(|()| scrape)
    })
    .await;
    let info = scrape.family("iadvize_project_info");
    assert_eq!(info.len(), counted.project_names.len(), "{info:?}");
    for (project, names) in &counted.project_names {
        let name = &saved_names[&project.parse::<i64>().unwrap()];
        assert!(
            names.contains(name),
            "project {project}: {name:?} not among {names:?}"
        );
        let series = key(
            "iadvize_project_info",
            &[
                ("project_id", project.as_str()),
                ("project_name", name.as_str()),
            ],
        );
        assert_eq!(info.get(&series), Some(&1.0), "{series} not in {info:?}");
    }
    assert_eq!(scrape.get("iadvize_up", &[]), Some(0.0));
    child.kill();
}
