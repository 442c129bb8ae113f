//! Unit tests of the pickle interpreter on hand-assembled opcode streams.

use super::*;
use rand::{Rng, SeedableRng};

fn unicode(s: &str) -> Vec<u8> {
    let mut v = vec![b'X'];
    v.extend((s.len() as u32).to_le_bytes());
    v.extend(s.as_bytes());
    v
}

fn global(module: &str, name: &str) -> Vec<u8> {
    format!("c{module}\n{name}\n").into_bytes()
}

#[test]
fn memo_shares_mutable_dicts() {
    // d = {}; memo[0] = d; outer = [d]; d['a'] = 1 (after put); outer.append(memo[0])
    let mut p = vec![0x80, 2, b']', b'}', b'q', 0, b'a'];
    p.extend([b'h', 0]);
    p.extend(unicode("a"));
    p.extend([b'K', 1, b's', b'0']); // set item on the GET copy, then pop it
    p.extend([b'h', 0, b'a', b'.']);
    let (heap, root) = load(&p).unwrap();
    let items = heap.seq(&root).unwrap();
    assert_eq!(items.len(), 2);
    for it in items {
        assert_eq!(heap.dict(it).unwrap().get("a"), Some(&Value::Int(1)));
    }
}

#[test]
fn os_system_reduce_is_inert_data() {
    let mut p = vec![0x80, 2];
    p.extend(global("os", "system"));
    p.extend(unicode("touch /tmp/should_never_exist"));
    p.extend([0x85, b'R', b'.']);
    let (heap, root) = load(&p).unwrap();
    match heap.node(&root) {
        Some(Node::Object(o)) => {
            assert_eq!((o.module.as_str(), o.name.as_str()), ("os", "system"));
            assert_eq!(o.args.len(), 1);
        }
        other => panic!("expected inert object, got {other:?}"),
    }
}

#[test]
fn namespace_newobj_build() {
    let mut p = vec![0x80, 2];
    p.extend(global("argparse", "Namespace"));
    p.extend([b')', 0x81, b'}', b'(']);
    p.extend(unicode("encoder_embed_dim"));
    p.extend([b'M', 0, 3]); // 768
    p.extend(unicode("fp"));
    p.push(b'G');
    p.extend(0.25f64.to_be_bytes());
    p.extend([b'u', b'b', b'.']);
    let (heap, root) = load(&p).unwrap();
    let attrs = heap.object_attrs(&root).unwrap();
    assert_eq!(attrs.get("encoder_embed_dim"), Some(&Value::Int(768)));
    assert_eq!(attrs.get("fp"), Some(&Value::Float(0.25)));
}

#[test]
fn tensor_rebuild_via_persistent_storage() {
    let mut p = vec![0x80, 2];
    p.extend(global("torch._utils", "_rebuild_tensor_v2"));
    p.extend([b'(', b'(']);
    p.extend(unicode("storage"));
    p.extend(global("torch", "HalfStorage"));
    p.extend(unicode("7"));
    p.extend(unicode("cuda:0"));
    p.extend([b'K', 6, b't', b'Q']);
    p.extend([
        b'K', 0, b'K', 2, b'K', 3, 0x86, b'K', 3, b'K', 1, 0x86, 0x89,
    ]);
    p.extend(global("collections", "OrderedDict"));
    p.extend([b')', b'R', b't', b'R', b'.']);
    let (heap, root) = load(&p).unwrap();
    match heap.node(&root) {
        Some(Node::Tensor(t)) => {
            assert_eq!(t.storage.class, "HalfStorage");
            assert_eq!(t.storage.key, "7");
            assert_eq!(t.storage.numel, 6);
            assert_eq!(t.shape, vec![2, 3]);
            assert_eq!(t.stride, vec![3, 1]);
        }
        other => panic!("expected tensor, got {other:?}"),
    }
}

#[test]
fn protocol4_opcodes() {
    // FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL, EMPTY_SET/ADDITEMS, LONG1 (> i64).
    let mut p = vec![0x80, 4, 0x95];
    p.extend(0u64.to_le_bytes());
    p.push(b'(');
    p.extend([0x8c, 5]);
    p.extend(b"numpy");
    p.push(0x94);
    p.extend([0x8c, 5]);
    p.extend(b"dtype");
    p.extend([0x94, 0x93, 0x94]);
    p.extend([0x8f, b'(', b'K', 1, b'K', 2, 0x90]);
    p.extend([0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1]); // 2^64
    p.extend([0x8a, 2, 0xff, 0xff]); // -1
    p.extend([b'h', 1, b'l', b'.']);
    let (heap, root) = load(&p).unwrap();
    let items = heap.seq(&root).unwrap();
    assert!(
        matches!(heap.node(&items[0]), Some(Node::Global { module, name }) if module == "numpy" && name == "dtype")
    );
    assert_eq!(heap.seq(&items[1]).unwrap().len(), 2);
    assert!(matches!(items[2], Value::BigInt(_)));
    assert_eq!(items[3], Value::Int(-1));
    assert_eq!(items[4], Value::Str("dtype".into()));
}

#[test]
fn numpy_scalar_and_codecs() {
    let mut p = vec![0x80, 2, b'('];
    p.extend(global("numpy.core.multiarray", "scalar"));
    p.extend(global("numpy", "dtype"));
    p.extend(unicode("f8"));
    p.extend([0x89, 0x88, 0x87, b'R']);
    p.extend(global("_codecs", "encode"));
    p.extend(unicode("\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{f8}?"));
    p.extend(unicode("latin1"));
    p.extend([0x86, b'R', 0x86, b'R']);
    p.extend(global("_codecs", "encode"));
    p.extend(unicode("ab"));
    p.extend(unicode("latin1"));
    p.extend([0x86, b'R', b'l', b'.']);
    let (heap, root) = load(&p).unwrap();
    let items = heap.seq(&root).unwrap();
    assert_eq!(items[0], Value::Float(1.5));
    assert_eq!(items[1], Value::Bytes(Rc::from(&b"ab"[..])));
}

#[test]
fn text_protocol_opcodes() {
    let p = b"(I01\nI42\nL7L\nF2.5\nS'a\\nb'\nVcaf\\u00e9\np0\ng0\nl.";
    let (heap, root) = load(p).unwrap();
    let items = heap.seq(&root).unwrap();
    assert_eq!(items[0], Value::Bool(true));
    assert_eq!(items[1], Value::Int(42));
    assert_eq!(items[2], Value::Int(7));
    assert_eq!(items[3], Value::Float(2.5));
    assert_eq!(items[4], Value::Str("a\nb".into()));
    assert_eq!(items[5], Value::Str("café".into()));
    assert_eq!(items[6], Value::Str("café".into()));
}

#[test]
fn errors_carry_offset_and_opcode() {
    let err = load(&[0x80, 2, b'N', 0xfe]).unwrap_err();
    assert_eq!(err.offset, 3);
    assert_eq!(err.opcode, 0xfe);
    assert!(err.detail.contains("unknown opcode"));
    assert_eq!(err.opcode_text(), "0xfe");

    let err = load(&[0x80, 2, b'X', 0xff, 0xff, 0xff, 0x7f]).unwrap_err();
    assert_eq!(err.offset, 2);
    assert!(err.detail.contains("more bytes"), "{}", err.detail);

    let err = load(&[0x80, 2, b'(', b'0', b'.']).unwrap_err();
    assert!(err.detail.contains("underflow"), "{}", err.detail);

    let err = load(&[0x80, 2, b'h', 9, b'.']).unwrap_err();
    assert!(err.detail.contains("memo key 9"));

    let err = load(&[0x80, 2, b'N']).unwrap_err();
    assert!(err.detail.contains("no STOP"));

    let err = load(&[0x80, 9, b'N', b'.']).unwrap_err();
    assert!(err.detail.contains("protocol 9"));

    let err = load(&[0x80, 2, b'N', b'K', 1, b'a', b'.']).unwrap_err();
    assert!(err.detail.contains("not a"), "{}", err.detail);
}

/// Fuzz-style: random mutations of a realistic stream and random garbage never panic.
#[test]
fn mutated_pickles_never_panic() {
    let mut base = vec![0x80, 2, b'}', b'q', 0, b'('];
    base.extend(unicode("model"));
    base.extend(global("collections", "OrderedDict"));
    base.extend([b')', b'R', b'(']);
    base.extend(unicode("w"));
    base.extend(global("torch._utils", "_rebuild_tensor_v2"));
    base.extend([b'(', b'(']);
    base.extend(unicode("storage"));
    base.extend(global("torch", "FloatStorage"));
    base.extend(unicode("0"));
    base.extend(unicode("cpu"));
    base.extend([
        b'K', 4, b't', b'Q', b'K', 0, b'K', 4, 0x85, b'K', 1, 0x85, 0x89,
    ]);
    base.extend([b'h', 0, b't', b'R', b'u', b'u', b'.']);
    load(&base).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for _ in 0..20_000 {
        let mut p = base.clone();
        for _ in 0..rng.gen_range(1..4) {
            let i = rng.gen_range(0..p.len());
            match rng.gen_range(0..3) {
                0 => p[i] = rng.gen(),
                1 => {
                    p.remove(i);
                }
                _ => p.insert(i, rng.gen()),
            }
        }
        if let Ok((heap, root)) = load(&p) {
            let _ = heap.to_json(&root);
        }
    }
    for _ in 0..2_000 {
        let n = rng.gen_range(0..64);
        let p: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
        let _ = load(&p);
    }
}
