//! The Xet and BEP 38 lines of `ccbt info`: whether the torrent carries Xet metadata, how
//! many chunk lists the file holds, `prev`, `similar` and `collections`.

use std::fmt::Write as _;

use ccbt_metainfo::Torrent;

/// Appends the lines, labelled like the rest of `ccbt info` (14 columns).
pub fn describe_xet(t: &Torrent, out: &mut String) {
    // Writing to a String cannot fail, hence the ignored results below.
    let mut line = |label: &str, value: &str| {
        let _ = writeln!(out, "{label:<14}{value}");
    };
    match (&t.xet, t.xet_ignored_version) {
        (Some(xet), _) => {
            let roots: std::collections::BTreeSet<_> = xet.roots.values().collect();
            let known = roots.iter().filter(|r| t.xet_layers.contains_key(**r)).count();
            line(
                "xet:",
                &format!(
                    "yes (version {}): {} distinct file contents, chunk lists for {known} of them in the file",
                    xet.version,
                    roots.len()
                ),
            );
            if let Some(prev) = xet.prev {
                line("xet prev:", &prev.to_hex());
            }
        }
        (None, Some(v)) => line(
            "xet:",
            &format!("ignored: version {v}, ccbt reads version {}; used as a plain torrent", ccbt_metainfo::XET_VERSION),
        ),
        (None, None) => line("xet:", "no"),
    }
    for (i, hash) in t.similar.iter().enumerate() {
        line(if i == 0 { "similar:" } else { "" }, &hash.to_hex());
    }
    if !t.collections.is_empty() {
        line("collections:", &t.collections.join(", "));
    }
}
