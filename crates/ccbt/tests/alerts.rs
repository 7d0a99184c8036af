//! Alert rules end to end: a rule on the download rate fires when the libtorrent seeder of a
//! running download is stopped and resolves when it returns (seen in `ccbt alerts history`, the
//! API and the event stream); rules prepared with `ccbt alerts add` before the daemon starts,
//! and added through the daemon while it runs; a malformed rules file is refused with its line
//! and reason (CLI without a daemon, and the daemon's API); a bad condition is refused by
//! `ccbt alerts add` with and without a daemon.

mod support;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use support::daemon_state::StateDir;
use support::{
    interop, lt_info_hash, lt_make_torrent, lt_seed, poll_until, work_dir, write_file, Kind, Tool,
};
use support::{SETUP, TRANSFER};

const RATE: &str = "ccbt_download_rate_bytes_per_second";
const TORRENT_RATE: &str = "ccbt_torrent_download_rate_bytes_per_second";

/// `host:port` of the daemon's API and its token.
fn api_of(state: &StateDir) -> (String, String) {
    let (_, url) = state.lock();
    let addr = url.strip_prefix("http://").expect("plain HTTP on loopback").to_owned();
    let token = std::fs::read_to_string(state.path.join("api_token")).unwrap();
    (addr, token.trim().to_owned())
}

/// One API request on the wire: the status and the JSON body.
fn api(state: &StateDir, method: &str, path: &str, body: &str) -> (u16, Value) {
    let (addr, token) = api_of(state);
    let request = format!(
        "{method} /api/v1{path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, json) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP answer: {answer:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    let json = if json.is_empty() { Value::Null } else { serde_json::from_str(json).unwrap() };
    (status, json)
}

/// Reads `GET /api/v1/events` on a thread into a shared text; the stream, to close it (the
/// daemon waits for open requests when it stops).
fn follow_events(state: &StateDir) -> (Arc<Mutex<String>>, std::net::TcpStream) {
    let (addr, token) = api_of(state);
    let text = Arc::new(Mutex::new(String::new()));
    let out = text.clone();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    let request =
        format!("GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let handle = stream.try_clone().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            let mut text = out.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    (text, handle)
}

/// The records of `ccbt alerts history --json`.
fn history(state: &StateDir) -> Vec<Value> {
    let done = state.ccbt("history", &["alerts", "history", "--json"]);
    assert!(done.success(), "{}", done.describe());
    let view: Value = serde_json::from_str(&done.stdout).unwrap();
    view["records"].as_array().unwrap().clone()
}

/// The `seq` of the first record of `rule` of `kind` numbered above `after`.
fn find(records: &[Value], rule: &str, kind: &str, after: u64) -> Option<u64> {
    records
        .iter()
        .find(|r| r["rule"] == rule && r["kind"] == kind && r["seq"].as_u64().unwrap() > after)
        .map(|r| r["seq"].as_u64().unwrap())
}

/// Waits for a record of `rule` and `kind` above `after`; its seq.
fn wait_record(state: &StateDir, rule: &str, kind: &str, after: u64) -> u64 {
    let mut seq = None;
    let found = poll_until(TRANSFER, || {
        seq = find(&history(state), rule, kind, after);
        seq.is_some()
    });
    assert!(found, "no `{kind}` of {rule} after #{after}: {:#?}\n{}", history(state), state.log());
    seq.unwrap()
}

#[test]
fn a_download_rate_rule_fires_when_the_seeder_stops_and_resolves_when_it_returns() {
    let test = "a_download_rate_rule_fires_when_the_seeder_stops_and_resolves_when_it_returns";
    if !interop(test, &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    // 16 MiB under a 256 KiB/s limit: over a minute, so the download is still running while
    // the seeder is away.
    write_file(&w.join("src/big.bin"), 5, 16 * 1024 * 1024);
    let torrent = w.join("big.torrent");
    lt_make_torrent(&w.join("src/big.bin"), &torrent, 64 * 1024, Kind::V1);
    let info_hash = lt_info_hash(&torrent);
    let state = StateDir::new(w, "state");

    // Prepared before the daemon runs: the rules file is edited directly.
    let rule = ["alerts", "add", "--name", "stalled", "--metric", RATE, "--condition", "value < 20 KiB"];
    let added = state.ccbt("add-rule", &[&rule[..], &["--cooldown", "0"]].concat());
    assert!(added.success() && added.stdout.contains("added rule stalled"), "{}", added.describe());
    assert!(state.path.join("alerts.toml").is_file());

    let mut seeder = lt_seed(w, "lt-seed", &torrent, &w.join("src"), &[], &[]);
    state.start("start");
    let (events, events_stream) = follow_events(&state);
    let out = w.join("out");
    let peer = seeder.addr();
    let args = [
        "add",
        torrent.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--peer",
        &peer,
        "--down-limit",
        "256",
    ];
    let added = state.ccbt("add", &args);
    assert!(added.success(), "{}", added.describe());
    // Nothing flows at first (the rule fires), then the download does: it resolves.
    let flowing = wait_record(&state, "stalled", "resolved", 0);

    // A rule on this torrent alone, added through the running daemon (its API).
    let per_torrent = ["alerts", "add", "--name", "torrent-stalled", "--metric", TORRENT_RATE];
    let per_torrent =
        [&per_torrent[..], &["--condition", "value < 20 KiB", "--cooldown", "0", "--torrent", &info_hash]];
    let added = state.ccbt("add-torrent-rule", &per_torrent.concat());
    assert!(added.success() && added.stdout.contains("applies it now"), "{}", added.describe());

    // The seeder goes away mid-download.
    seeder.proc.kill();
    let fired = wait_record(&state, "stalled", "fired", flowing);
    let torrent_fired = wait_record(&state, "torrent-stalled", "fired", flowing);
    assert!(!state.is(&info_hash, "seeding"), "the download ended before the seeder left");
    let (status, view) = api(&state, "GET", "/alerts", "");
    assert_eq!(status, 200, "{view}");
    let firing: Vec<&str> =
        view["firing"].as_array().unwrap().iter().map(|a| a["rule"].as_str().unwrap()).collect();
    assert!(firing.contains(&"stalled"), "{view}");

    // It comes back (dialling the daemon, which cannot know its new port): both resolve.
    let text = std::fs::read_to_string(state.path.join("daemon.lock")).unwrap();
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("listen "))
        .unwrap()
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let _back = lt_seed(w, "lt-seed-2", &torrent, &w.join("src"), &[format!("127.0.0.1:{port}")], &[]);
    let resolved = wait_record(&state, "stalled", "resolved", fired);
    wait_record(&state, "torrent-stalled", "resolved", torrent_fired);
    let record = history(&state).into_iter().find(|r| r["seq"] == resolved).unwrap();
    assert_eq!(record["reason"], "cleared", "{record}");
    assert!(record["value"].as_f64().unwrap() >= 20.0 * 1024.0, "{record}");
    assert_eq!(record["metric"], RATE);

    // The event stream carried them, and the log names rule, metric, value and scope.
    let streamed = poll_until(SETUP, || {
        let text = events.lock().unwrap();
        text.contains("event: alert_fired") && text.contains("event: alert_resolved")
    });
    assert!(streamed, "no alert events on the stream:\n{}", events.lock().unwrap());
    let log = state.log();
    let line = log.lines().find(|l| l.contains("alert fired") && l.contains("torrent-stalled")).expect(&log);
    assert!(line.contains(TORRENT_RATE) && line.contains(&info_hash) && line.contains("value="), "{line}");
    assert!(log.lines().any(|l| l.contains("alert resolved") && l.contains("scope=session")), "{log}");
    events_stream.shutdown(std::net::Shutdown::Both).unwrap();
    state.stop("stop");

    // The history outlives the daemon.
    let after = history(&state);
    assert!(find(&after, "stalled", "resolved", fired).is_some(), "{after:#?}");
}

#[test]
fn a_malformed_rules_file_is_refused_with_its_line_and_reason() {
    let work = work_dir();
    let w = work.path();
    let state = StateDir::new(w, "state");
    std::fs::create_dir_all(&state.path).unwrap();
    let rules = state.path.join("alerts.toml");
    let good = "[[rule]]\nname = \"slow\"\nmetric = \"ccbt_download_rate_bytes_per_second\"\ncondition = \"value < 10 KiB\"\n";
    let bad = "[[rule]]\nname = \"slow\"\nmetric = \"ccbt_download_rate_bytes_per_second\"\ncondition = \"value <\"\nseverity = \"loud\"\n";
    std::fs::write(&rules, bad).unwrap();

    // Without a daemon: the file itself.
    let listed = state.ccbt("list-bad", &["alerts", "list"]);
    assert!(!listed.success(), "{}", listed.describe());
    let path = rules.display().to_string();
    assert!(listed.stderr.contains(&format!("{path}:4: condition `value <`")), "{}", listed.describe());
    assert!(listed.stderr.contains(&format!("{path}:5: unknown severity `loud`")), "{}", listed.describe());
    let refused = state.ccbt(
        "add-to-bad",
        &["alerts", "add", "--name", "x", "--metric", "ccbt_connected_peers", "--condition", "value < 1"],
    );
    assert!(!refused.success() && refused.stderr.contains(&format!("{path}:4:")), "{}", refused.describe());
    // A bad condition of a new rule names it and where it is wrong.
    std::fs::write(&rules, good).unwrap();
    let bad_add =
        ["alerts", "add", "--name", "x", "--metric", "ccbt_connected_peers", "--condition", "value = 1"];
    let refused = state.ccbt("bad-condition", &bad_add);
    assert!(!refused.success() && refused.stderr.contains("condition `value = 1`"), "{}", refused.describe());
    assert_eq!(std::fs::read_to_string(&rules).unwrap(), good, "a refused rule changed the file");

    // With a daemon: the API refuses a bad rule with 400 and the reason; the file broken under
    // the daemon is reported with its line, and the rules before stay in force.
    state.start("start");
    let (status, body) = api(
        &state,
        "POST",
        "/alerts/rules",
        r#"{"name": "x", "metric": "ccbt_connected_peers", "condition": "value <> 1"}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_rule");
    assert!(body["error"]["message"].as_str().unwrap().contains("value <> 1"), "{body}");
    let (status, body) = api(
        &state,
        "POST",
        "/alerts/rules",
        r#"{"name": "x", "metric": "ccbt_conected_peers", "condition": "value < 1"}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("did you mean"), "{body}");
    let refused = state.ccbt("bad-condition-daemon", &bad_add);
    assert!(!refused.success() && refused.stderr.contains("condition `value = 1`"), "{}", refused.describe());
    let (status, body) = api(&state, "POST", "/alerts/rules/slow/test", r#"{"value": "5 KiB"}"#);
    assert_eq!(
        (status, &body["holds"], &body["value"]),
        (200, &Value::Bool(true), &serde_json::json!(5120.0))
    );

    std::fs::write(&rules, bad).unwrap();
    let reported = poll_until(SETUP, || {
        let (_, view) = api(&state, "GET", "/alerts", "");
        view["rules_error"].as_str().is_some_and(|e| e.contains(&format!("{path}:4: condition `value <`")))
    });
    assert!(reported, "{}", state.log());
    let (_, view) = api(&state, "GET", "/alerts", "");
    assert_eq!(view["rules"][0]["name"], "slow", "the rules before the broken edit left: {view}");
    let listed = state.ccbt("list-bad-daemon", &["alerts", "list"]);
    assert!(
        !listed.success() && listed.stderr.contains(&format!("{path}:5: unknown severity")),
        "{}",
        listed.describe()
    );
    assert!(state.log().contains("alert rules refused"), "{}", state.log());

    // Removing the broken rule repairs the file.
    let removed = state.ccbt("remove", &["alerts", "remove", "slow"]);
    assert!(removed.success(), "{}", removed.describe());
    let (_, view) = api(&state, "GET", "/alerts", "");
    assert!(view["rules_error"].is_null() && view["rules"].as_array().unwrap().is_empty(), "{view}");
    state.stop("stop");
}

#[test]
fn a_foreground_download_evaluates_the_rules_of_its_state_folder() {
    if !interop("a_foreground_download_evaluates_the_rules_of_its_state_folder", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    // 2 MiB at 256 KiB/s: several evaluations while it runs.
    write_file(&w.join("src/f.bin"), 9, 2 * 1024 * 1024);
    let torrent = w.join("f.torrent");
    lt_make_torrent(&w.join("src/f.bin"), &torrent, 32 * 1024, Kind::V1);
    let info_hash = lt_info_hash(&torrent);
    let state = w.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let rules = "[[rule]]\nname = \"has-peers\"\nmetric = \"ccbt_torrent_connected_peers\"\ncondition = \"value >= 1\"\n";
    std::fs::write(state.join("alerts.toml"), rules).unwrap();
    let mut seeder = lt_seed(w, "lt-seed", &torrent, &w.join("src"), &[], &[]);
    let mut cmd = support::ccbt();
    cmd.arg("download").arg(&torrent).arg("-o").arg(w.join("out")).arg("--state-dir").arg(&state);
    cmd.args(["--listen-port", "0", "--no-dht", "--peer", &seeder.addr(), "--down-limit", "256"]);
    let done = support::run_with_timeout("ccbt-download", &mut cmd, w, TRANSFER);
    done.assert_success("ccbt download with an alert rule");
    let fired = done
        .stderr
        .lines()
        .find(|l| l.contains("alert fired"))
        .unwrap_or_else(|| panic!("{}", done.describe()));
    assert!(fired.contains("rule=has-peers") && fired.contains(&format!("scope={info_hash}")), "{fired}");
    let history = std::fs::read_to_string(state.join("alerts-history.json")).unwrap();
    assert!(history.contains("\"kind\": \"fired\"") && history.contains(&info_hash), "{history}");
    seeder.proc.kill();
}
