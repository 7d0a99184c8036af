//! The daemon's API over HTTPS (`[daemon] tls_cert`, `tls_key`) with a self-signed certificate
//! made by the `openssl` command: the CLI trusts the daemon's certificate and works; a client
//! that trusts it gets answers with the token and 401 without; plain HTTP gets no answer; and a
//! non-loopback `api_host` without TLS is refused unless `--insecure-remote` is given.

mod support;

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::sync::Arc;

use support::{ccbt, ccbt_create, run_with_timeout, work_dir, write_file, Finished, Proc, SETUP};

/// A self-signed certificate for 127.0.0.1 (not a CA: webpki refuses a CA as the server).
fn make_cert(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let mut cmd = std::process::Command::new("openssl");
    cmd.args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .args(["-days", "2", "-subj", "/CN=ccbt test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert);
    let done = run_with_timeout("openssl", &mut cmd, dir, SETUP);
    assert!(
        done.success(),
        "openssl could not make a certificate (scripts/install-test-deps.sh installs it)\n{}",
        done.describe()
    );
    (cert, key)
}

fn write_config(path: &Path, daemon_section: &str) {
    std::fs::write(path, format!("[daemon]\n{daemon_section}")).unwrap();
}

fn ccbt_run(work: &Path, name: &str, config: &Path, args: &[&str]) -> Finished {
    let mut cmd = ccbt();
    cmd.arg("--config").arg(config).args(args);
    run_with_timeout(name, &mut cmd, work, SETUP)
}

/// A ureq agent that trusts `cert` only.
fn agent_trusting(cert: &Path) -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let pem = std::fs::read(cert).unwrap();
    let root = Certificate::from_pem(&pem).unwrap();
    let tls = TlsConfig::builder().root_certs(RootCerts::Specific(Arc::new(vec![root]))).build();
    ureq::Agent::config_builder().tls_config(tls).http_status_as_error(false).proxy(None).build().into()
}

#[test]
fn the_api_over_https_with_the_daemons_certificate() {
    let work = work_dir();
    let w = work.path();
    let (cert, key) = make_cert(w);
    let config = w.join("ccbt.toml");
    write_config(
        &config,
        &format!("tls_cert = {:?}\ntls_key = {:?}\n", cert.display().to_string(), key.display().to_string()),
    );
    let state = w.join("state");
    let s = state.to_str().unwrap();
    let start = [
        "daemon",
        "start",
        "--api-port",
        "0",
        "--listen-port",
        "0",
        "--no-dht",
        "--no-trackers",
        "--state-dir",
        s,
    ];
    let started = ccbt_run(w, "start", &config, &start);
    assert!(started.success(), "{}", started.describe());
    let url = started.stdout.split_whitespace().find(|w| w.starts_with("https://127.0.0.1:"));
    let url = url.unwrap_or_else(|| panic!("no https URL\n{}", started.describe())).to_owned();
    let lock = std::fs::read_to_string(state.join("daemon.lock")).unwrap();
    assert!(lock.contains(&format!("cert {}", cert.display())), "{lock}");

    // The CLI finds the certificate through the lock file and verifies the daemon with it.
    let list = ccbt_run(w, "list", &config, &["list", "--state-dir", s]);
    assert!(list.success() && list.stdout.contains("no torrents"), "{}", list.describe());

    let token = std::fs::read_to_string(state.join("api_token")).unwrap();
    let agent = agent_trusting(&cert);
    let session = format!("{url}/api/v1/session");
    let mut ok =
        agent.get(&session).header("Authorization", &format!("Bearer {}", token.trim())).call().unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.body_mut().read_to_string().unwrap().contains("\"pid\""));
    assert_eq!(agent.get(&session).call().unwrap().status(), 401);
    // A torrent added through the CLI over HTTPS; its signed streaming URLs say https too.
    write_file(&w.join("data/x.bin"), 9, 40_000);
    let torrent = w.join("x.torrent");
    ccbt_create(&w.join("data/x.bin"), &torrent, 16 * 1024, &[]);
    let data = w.join("data");
    let added = ccbt_run(
        w,
        "add",
        &config,
        &["add", torrent.to_str().unwrap(), "-o", data.to_str().unwrap(), "--state-dir", s],
    );
    assert!(added.success(), "{}", added.describe());
    let hash = added.stdout.split_whitespace().nth(1).expect("info hash").to_owned();
    let urls = format!("{url}/api/v1/torrents/{hash}/urls");
    let mut answer =
        agent.get(&urls).header("Authorization", &format!("Bearer {}", token.trim())).call().unwrap();
    let body = answer.body_mut().read_to_string().unwrap();
    assert!(body.contains(&format!("\"url\":\"{url}/api/v1/torrents/{hash}/files/0/stream?")), "{body}");
    // A client that does not trust the certificate (the public roots) is turned away by TLS.
    let public = ureq::Agent::config_builder().proxy(None).build().new_agent();
    assert!(public.get(&session).call().is_err(), "an untrusted certificate was accepted");

    // Plain HTTP on the HTTPS port gets no HTTP answer.
    let addr = url.strip_prefix("https://").unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(SETUP)).unwrap();
    let request = format!(
        "GET /api/v1/session HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        token.trim()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/"), "plain HTTP was answered: {:?}", String::from_utf8_lossy(&answer));

    let stop = ccbt_run(w, "stop", &config, &["daemon", "stop", "--state-dir", s]);
    assert!(stop.success(), "{}", stop.describe());
}

#[test]
fn a_non_loopback_api_needs_tls_or_insecure_remote() {
    let work = work_dir();
    let w = work.path();
    let config = w.join("ccbt.toml");
    write_config(&config, "api_host = \"0.0.0.0\"\n");
    let state = w.join("state");
    let s = state.to_str().unwrap();
    let start = [
        "daemon",
        "start",
        "--foreground",
        "--api-port",
        "0",
        "--listen-port",
        "0",
        "--no-dht",
        "--no-trackers",
        "--state-dir",
        s,
    ];
    let refused = ccbt_run(w, "refused", &config, &start);
    assert_eq!(refused.code(), Some(1), "{}", refused.describe());
    let message = &refused.stderr;
    assert!(message.contains("api_host = 0.0.0.0 is not a loopback address"), "{message}");
    assert!(message.contains("tls_cert") && message.contains("--insecure-remote"), "{message}");

    // Only one of the two TLS files is a mistake, named.
    write_config(&config, "api_host = \"0.0.0.0\"\ntls_cert = \"/nonexistent/cert.pem\"\n");
    let half = ccbt_run(w, "half", &config, &start);
    assert_eq!(half.code(), Some(1), "{}", half.describe());
    assert!(half.stderr.contains("`tls_key` is not"), "{}", half.describe());

    write_config(&config, "api_host = \"0.0.0.0\"\n");
    let mut cmd = ccbt();
    cmd.arg("--config").arg(&config).args(start).arg("--insecure-remote");
    let mut daemon = Proc::spawn("insecure", &mut cmd, w);
    let url = daemon.wait_for("serving", SETUP, |out, _| {
        out.split_whitespace().find(|w| w.starts_with("http://")).map(str::to_owned)
    });
    assert!(url.starts_with("http://127.0.0.1:"), "local clients use loopback: {url}");
    assert!(
        daemon.stderr_text().contains("warning: the API listens on 0.0.0.0 over plain HTTP"),
        "{}",
        daemon.logs()
    );
    let list = ccbt_run(w, "list", &config, &["list", "--state-dir", s]);
    assert!(list.success() && list.stdout.contains("no torrents"), "{}", list.describe());
    let (status, clean) = daemon.terminate(SETUP);
    assert!(clean && status.success(), "{status:?}\n{}", daemon.logs());
}
