use bytes::Bytes;
use ccbt_wire::ext::xet_cas::{RejectReason, XetMessage, MAX_MANIFEST_ENTRIES};
use ccbt_xet::{chunk_id, ChunkId, ChunkRef};

use super::tests::{file_bytes, synthetic_manifest};
use super::*;

fn fetcher(rq: u32) -> XetFetcher {
    XetFetcher::new(&XetPeerCaps { ext_id: 1, rq })
}

fn req_of(msg: &XetMessage) -> u32 {
    match msg {
        XetMessage::ChunkReq { req, .. }
        | XetMessage::ManifestReq { req, .. }
        | XetMessage::Query { req, .. } => *req,
        other => panic!("not a request: {other:?}"),
    }
}

fn chunk(req: u32, id: ChunkId, data: &[u8]) -> XetMessage {
    XetMessage::Chunk { req, id, off: 0, data: Bytes::copy_from_slice(data) }
}

#[test]
fn pipelines_up_to_rq_with_fresh_ids() {
    let mut f = fetcher(3);
    let data: Vec<Vec<u8>> = (0..4).map(|i| file_bytes(1000 + i, i as u64)).collect();
    let asks: Vec<_> = data[..3].iter().map(|d| f.request_chunk(chunk_id(d), None).unwrap()).collect();
    assert_eq!(asks.iter().map(req_of).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert!(!f.has_room());
    assert_eq!(f.request_chunk(chunk_id(&data[3]), None), Err(FetchError::PipelineFull(3)));
    assert_eq!(f.query(vec![[1; 32]]), Err(FetchError::PipelineFull(3)));
    assert_eq!(f.pending_chunks().len(), 3);

    let event = f.on_answer(chunk(1, chunk_id(&data[1]), &data[1])).unwrap();
    assert_eq!(event, FetchEvent::Chunk { id: chunk_id(&data[1]), data: Bytes::from(data[1].clone()) });
    assert!(f.has_room());
    assert_eq!(req_of(&f.request_chunk(chunk_id(&data[3]), None).unwrap()), 3);
    assert_eq!(f.outstanding(), 3);
}

#[test]
fn caller_mistakes_are_refused() {
    let mut f = fetcher(8);
    assert_eq!(f.request_chunk([1; 32], Some(0)), Err(FetchError::BadLength(0)));
    assert_eq!(f.request_chunk([1; 32], Some(131_073)), Err(FetchError::BadLength(131_073)));
    f.request_chunk([1; 32], Some(131_072)).unwrap();
    assert_eq!(f.request_chunk([1; 32], None), Err(FetchError::Duplicate));
    assert_eq!(f.query(vec![]), Err(FetchError::BadQuery(0)));
    assert_eq!(f.query(vec![[0; 32]; 257]), Err(FetchError::BadQuery(257)));
    f.request_manifest([2; 32], 10, None).unwrap();
    assert_eq!(f.request_manifest([2; 32], 10, None), Err(FetchError::Duplicate));
    assert_eq!(f.outstanding(), 2);
}

#[test]
fn wrong_chunk_answers_are_violations() {
    let data = file_bytes(5000, 1);
    let id = chunk_id(&data);
    let setup = |len| {
        let mut f = fetcher(4);
        let req = req_of(&f.request_chunk(id, len).unwrap());
        (f, req)
    };
    let (mut f, req) = setup(None);
    let mut wrong = data.clone();
    wrong[4999] ^= 0x80;
    assert_eq!(
        f.on_answer(chunk(req, id, &wrong)),
        Err(XetViolation::WrongChunkBytes { id: super::hex(&id) })
    );

    let (mut f, req) = setup(Some(5001));
    assert!(matches!(
        f.on_answer(chunk(req, id, &data)),
        Err(XetViolation::ChunkLength { expected: 5001, got: 5000, .. })
    ));
    let (mut f, req) = setup(None);
    let other = chunk(req, [3; 32], &data);
    assert_eq!(f.on_answer(other), Err(XetViolation::Mismatch { msg: "CHUNK", req, what: "id" }));
    let (mut f, req) = setup(None);
    let shifted = XetMessage::Chunk { req, id, off: 1, data: Bytes::copy_from_slice(&data) };
    assert_eq!(f.on_answer(shifted), Err(XetViolation::Mismatch { msg: "CHUNK", req, what: "offset" }));
    let (mut f, req) = setup(None);
    let as_manifest = XetMessage::Manifest { req, root: id, total: 0, start: 0, entries: vec![] };
    assert_eq!(
        f.on_answer(as_manifest),
        Err(XetViolation::Mismatch { msg: "MANIFEST", req, what: "answer type" })
    );
    let (mut f, req) = setup(None);
    assert!(f.on_answer(chunk(req, id, &data)).is_ok());
    assert_eq!(f.outstanding(), 0);
}

#[test]
fn unsolicited_duplicate_and_late_answers() {
    let data = file_bytes(3000, 2);
    let id = chunk_id(&data);
    let mut f = fetcher(4);
    // Never asked.
    assert_eq!(f.on_answer(chunk(0, id, &data)), Err(XetViolation::Unsolicited { msg: "CHUNK", req: 0 }));
    let req = req_of(&f.request_chunk(id, None).unwrap());
    assert!(f.on_answer(chunk(req, id, &data)).is_ok());
    // Answered twice.
    assert_eq!(f.on_answer(chunk(req, id, &data)), Err(XetViolation::Unsolicited { msg: "CHUNK", req }));
    let rej = XetMessage::Reject { req: 77, id, reason: RejectReason::Absent };
    assert_eq!(f.on_answer(rej), Err(XetViolation::Unsolicited { msg: "REJECT", req: 77 }));
    // Requests and notices are not answers.
    let notice = XetMessage::HaveRange { root: id, start: 0, count: 1 };
    assert!(matches!(f.on_answer(notice), Err(XetViolation::Unsolicited { msg: "HAVE_RANGE", .. })));

    // An answer that crossed our CANCEL is ignored.
    let req = req_of(&f.request_chunk(id, None).unwrap());
    assert_eq!(f.cancel_chunk(&id), Some(XetMessage::Cancel { req }));
    assert_eq!(f.cancel_chunk(&id), None);
    assert_eq!(f.on_answer(chunk(req, id, &data)), Ok(FetchEvent::Late));
    let rej = XetMessage::Reject { req, id, reason: RejectReason::Absent };
    assert_eq!(f.on_answer(rej), Ok(FetchEvent::Late));
}

#[test]
fn cancelled_ids_are_remembered_within_a_bound() {
    let mut f = fetcher(1);
    let mut first = None;
    for i in 0..=REMEMBERED_CANCELS as u32 {
        let id = chunk_id(&i.to_be_bytes());
        let req = req_of(&f.request_chunk(id, None).unwrap());
        first.get_or_insert((req, id));
        f.cancel_chunk(&id).unwrap();
    }
    // The oldest cancel is forgotten: its answer is now unsolicited.
    let (req, id) = first.unwrap();
    let msg = XetMessage::Reject { req, id, reason: RejectReason::Absent };
    assert_eq!(f.on_answer(msg), Err(XetViolation::Unsolicited { msg: "REJECT", req }));
}

#[test]
fn rejects_are_benign_when_they_name_the_request() {
    let mut f = fetcher(8);
    let req = req_of(&f.request_chunk([1; 32], None).unwrap());
    let msg = XetMessage::Reject { req, id: [1; 32], reason: RejectReason::Absent };
    assert_eq!(f.on_answer(msg), Ok(FetchEvent::ChunkRejected { id: [1; 32], reason: RejectReason::Absent }));
    let req = req_of(&f.request_manifest([2; 32], 10, None).unwrap());
    let msg = XetMessage::Reject { req, id: [2; 32], reason: RejectReason::Absent };
    assert_eq!(
        f.on_answer(msg),
        Ok(FetchEvent::ManifestRejected { root: [2; 32], reason: RejectReason::Absent })
    );
    let req = req_of(&f.query(vec![[3; 32]]).unwrap());
    let msg = XetMessage::Reject { req, id: [0; 32], reason: RejectReason::Overload };
    assert_eq!(
        f.on_answer(msg),
        Ok(FetchEvent::QueryRejected { ids: vec![[3; 32]], reason: RejectReason::Overload })
    );
    // A REJECT naming something else than its request.
    let req = req_of(&f.request_chunk([4; 32], None).unwrap());
    let msg = XetMessage::Reject { req, id: [5; 32], reason: RejectReason::Choked };
    assert_eq!(f.on_answer(msg), Err(XetViolation::Mismatch { msg: "REJECT", req, what: "id" }));
}

#[test]
fn query_replies_must_answer_every_id() {
    let mut f = fetcher(8);
    let req = req_of(&f.query(vec![[1; 32], [2; 32]]).unwrap());
    let msg = XetMessage::QueryReply { req, have: vec![true, false, false] };
    assert_eq!(f.on_answer(msg), Err(XetViolation::QueryReplyCount { req, asked: 2, got: 3 }));
    let req = req_of(&f.query(vec![[1; 32], [2; 32]]).unwrap());
    let msg = XetMessage::QueryReply { req, have: vec![false, true] };
    assert_eq!(
        f.on_answer(msg),
        Ok(FetchEvent::QueryReply { ids: vec![[1; 32], [2; 32]], have: vec![false, true] })
    );
}

/// Feeds `pages` (start, entries) of `root`'s manifest with the given total; the last event.
fn feed_manifest(
    max: u32,
    size: Option<u64>,
    root: ChunkId,
    total: u32,
    pages: &[(u32, &[ChunkRef])],
) -> Result<FetchEvent, XetViolation> {
    let mut f = fetcher(2);
    let mut req = req_of(&f.request_manifest(root, max, size).unwrap());
    let mut last = None;
    for (start, entries) in pages {
        let msg = XetMessage::Manifest { req, root, total, start: *start, entries: entries.to_vec() };
        let event = f.on_answer(msg)?;
        if let FetchEvent::ManifestProgress { next } = &event {
            req = req_of(next);
        }
        last = Some(event);
    }
    Ok(last.expect("at least one page"))
}

#[test]
fn manifests_are_verified_against_their_root() {
    let (root, entries) = synthetic_manifest(3000);
    let size: u64 = entries.iter().map(|e| u64::from(e.len)).sum();
    let pages: &[(u32, &[ChunkRef])] = &[(0, &entries[..2048]), (2048, &entries[2048..])];
    let ok = feed_manifest(3000, Some(size), root, 3000, pages).unwrap();
    assert_eq!(ok, FetchEvent::Manifest { root, entries: entries.clone() });
    // Short pages are fine as long as they progress.
    let small: &[(u32, &[ChunkRef])] =
        &[(0, &entries[..10]), (10, &entries[10..2058]), (2058, &entries[2058..])];
    assert!(matches!(feed_manifest(3000, None, root, 3000, small), Ok(FetchEvent::Manifest { .. })));

    let mismatch = Err(XetViolation::ManifestMismatch { root: super::hex(&root) });
    let mut forged = entries.clone();
    forged[2999].len += 1;
    let forged_pages: &[(u32, &[ChunkRef])] = &[(0, &forged[..2048]), (2048, &forged[2048..])];
    assert_eq!(feed_manifest(3000, None, root, 3000, forged_pages), mismatch);
    assert_eq!(feed_manifest(3000, Some(size + 1), root, 3000, pages), mismatch);
    // The empty file's root is all zeros.
    assert_eq!(
        feed_manifest(0, None, [0; 32], 0, &[(0, &[])]),
        Ok(FetchEvent::Manifest { root: [0; 32], entries: vec![] })
    );
    assert!(matches!(
        feed_manifest(0, None, [1; 32], 0, &[(0, &[])]),
        Err(XetViolation::ManifestMismatch { .. })
    ));
}

#[test]
fn inconsistent_manifest_pages_are_violations() {
    let (root, entries) = synthetic_manifest(3000);
    let bad = |what| Err(XetViolation::BadManifestPage { root: super::hex(&root), what });
    let e = &entries[..];
    assert_eq!(
        feed_manifest(2999, None, root, 3000, &[(0, &e[..2048])]),
        bad("more entries than the file can have")
    );
    let changed: &[(u32, &[ChunkRef])] = &[(0, &e[..2048]), (2048, &e[2048..])];
    let mut f = fetcher(1);
    let req = req_of(&f.request_manifest(root, 5000, None).unwrap());
    let msg = XetMessage::Manifest { req, root, total: 3000, start: 0, entries: changed[0].1.to_vec() };
    let FetchEvent::ManifestProgress { next } = f.on_answer(msg).unwrap() else { panic!() };
    assert_eq!(next, XetMessage::ManifestReq { req: req + 1, root, start: 2048, count: 952 });
    let msg =
        XetMessage::Manifest { req: req + 1, root, total: 3001, start: 2048, entries: e[2048..].to_vec() };
    assert_eq!(f.on_answer(msg), bad("total changed between pages"));

    assert_eq!(feed_manifest(3000, None, root, 3000, &[(0, &[])]), bad("empty page before the end"));
    assert_eq!(
        feed_manifest(3000, None, root, 3000, &[(5, &e[5..10])]),
        Err(XetViolation::Mismatch { msg: "MANIFEST", req: 0, what: "start" })
    );
    // A page larger than the request's count (asked for 3 entries of a 3-entry bound).
    let (small_root, small) = synthetic_manifest(3);
    let mut f = fetcher(1);
    let req = req_of(&f.request_manifest(small_root, 2, None).unwrap());
    let msg = XetMessage::Manifest { req, root: small_root, total: 2, start: 0, entries: small.to_vec() };
    assert!(matches!(f.on_answer(msg), Err(XetViolation::BadManifestPage { .. })));
    let mut f = fetcher(1);
    let req = req_of(&f.request_manifest(root, 3000, None).unwrap());
    let msg = XetMessage::Manifest { req, root: [9; 32], total: 3000, start: 0, entries: e[..5].to_vec() };
    assert_eq!(f.on_answer(msg), Err(XetViolation::Mismatch { msg: "MANIFEST", req, what: "root" }));
}

#[test]
fn manifest_requests_ask_what_the_file_can_hold() {
    assert_eq!(max_manifest_entries(0), 0);
    assert_eq!(max_manifest_entries(1), 1);
    assert_eq!(max_manifest_entries(8192), 1);
    assert_eq!(max_manifest_entries(8193), 2);
    assert_eq!(max_manifest_entries(u64::MAX), u32::MAX);
    let mut f = fetcher(4);
    let ask = f.request_manifest([1; 32], 10, None).unwrap();
    assert_eq!(ask, XetMessage::ManifestReq { req: 0, root: [1; 32], start: 0, count: 10 });
    let ask = f.request_manifest([2; 32], 1_000_000, None).unwrap();
    assert_eq!(ask, XetMessage::ManifestReq { req: 1, root: [2; 32], start: 0, count: MAX_MANIFEST_ENTRIES });
    assert_eq!(f.cancel_manifest(&[2; 32]), Some(XetMessage::Cancel { req: 1 }));
    assert_eq!(f.cancel_manifest(&[2; 32]), None);
}

mod hostile {
    use proptest::prelude::*;

    use super::*;
    use ccbt_xet::file_hash;

    /// Answers built from a few ids, roots, request numbers and payloads, right and wrong mixed.
    fn answer(good: Vec<u8>, root: ChunkId, entries: Vec<ChunkRef>) -> impl Strategy<Value = XetMessage> {
        let ids = [chunk_id(&good), [1; 32], root, [0; 32]];
        let datas = [good.clone(), good[1..].to_vec(), vec![0; 10]];
        (0..6u32, 0..4usize, 0..3usize, 0..5u32, 0..4u32, 0..4u8, 0..4usize).prop_map(
            move |(req, id, data, start, take, reason, kind)| {
                let id = ids[id];
                match kind {
                    0 => XetMessage::Chunk { req, id, off: 0, data: Bytes::from(datas[data].clone()) },
                    1 => {
                        let from = (start as usize).min(entries.len());
                        let to = (from + take as usize).min(entries.len());
                        let total = entries.len() as u32 + u32::from(reason == 3);
                        XetMessage::Manifest {
                            req,
                            root: id,
                            total,
                            start,
                            entries: entries[from..to].to_vec(),
                        }
                    }
                    2 => XetMessage::QueryReply { req, have: vec![true; take as usize] },
                    _ => XetMessage::Reject {
                        req,
                        id,
                        reason: [RejectReason::Absent, RejectReason::Choked, RejectReason::Overload]
                            [reason as usize % 3],
                    },
                }
            },
        )
    }

    proptest! {
        #[test]
        fn nothing_unverified_comes_out(answers in proptest::collection::vec(
            answer(file_bytes(2000, 5), synthetic_manifest(4).0, synthetic_manifest(4).1), 1..30))
        {
            let good = file_bytes(2000, 5);
            let (root, _) = synthetic_manifest(4);
            let mut f = fetcher(8);
            f.request_chunk(chunk_id(&good), Some(2000)).unwrap();
            f.request_chunk([1; 32], None).unwrap();
            f.request_manifest(root, 4, None).unwrap();
            f.query(vec![[3; 32], [4; 32]]).unwrap();
            for msg in answers {
                match f.on_answer(msg) {
                    Ok(FetchEvent::Chunk { id, data }) => prop_assert_eq!(chunk_id(&data), id),
                    Ok(FetchEvent::Manifest { root: r, entries }) => {
                        prop_assert_eq!(r, root);
                        prop_assert_eq!(file_hash(&entries), root);
                    }
                    Ok(FetchEvent::QueryReply { ids, have }) => prop_assert_eq!(ids.len(), have.len()),
                    Ok(_) | Err(_) => {}
                }
                prop_assert!(f.outstanding() <= 8);
            }
        }
    }
}
