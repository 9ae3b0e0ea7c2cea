//! Series identity does not depend on how an attribute set is spelled.
//!
//! The registry has three ways to pack attributes: declared order with the declared
//! literals, the declared literals in another order or a subset, and the general encoder
//! (copied key strings, undeclared or repeated keys, values that must be cut). A property
//! test records random spellings into one registry and the canonical spelling of the same
//! sets (last value per key wins, declared order, keys as copied strings: always the
//! general encoder) into another, and requires the same points and the same stats; where
//! every set fits whole it also compares the points with a plain model.
//!
//! Instruments that declare no keys store keys and values: a second property records
//! random spellings (any order, keys given twice, copied key strings) and the canonical
//! spelling of the same sets, and compares both with a model of the sets that fit.

use std::collections::BTreeMap;

use otlp_embedded::proto::{AttributeValue, KeyValue, MetricsSource, PointValue, Temporality};
use otlp_embedded::registry::{
    DeclareError, InstrumentDesc, InstrumentStats, Producer, Registry, Settlement, Snapshot,
};
use proptest::prelude::*;

/// Declared keys: instruments take a prefix, so every key below `n` is declared as this
/// very literal and the others are undeclared.
static KEYS: [&str; 8] = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"];
const NAMES: [&str; 2] = ["first", "second"];
const MAX_SERIES: [u16; 2] = [3, 5];

#[derive(Clone, Debug, PartialEq)]
enum V {
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(String),
}

impl V {
    fn attr(&self) -> AttributeValue<'_> {
        match self {
            V::Bool(b) => AttributeValue::Bool(*b),
            V::Int(x) => AttributeValue::Int(*x),
            V::Double(x) => AttributeValue::Double(*x),
            V::Str(s) => AttributeValue::Str(s),
        }
    }

    /// Tag byte plus payload in a packed key.
    fn size(&self) -> usize {
        match self {
            V::Bool(_) => 1,
            V::Int(_) | V::Double(_) => 9,
            V::Str(s) => 1 + s.len(),
        }
    }
}

/// One attribute as the caller spells it: key `KEYS[k]` (8: "zz", 9: the empty key),
/// as the literal or as a copied string with the same bytes.
#[derive(Clone, Debug)]
struct Attr {
    k: usize,
    copied: bool,
    v: V,
}

#[derive(Clone, Debug)]
enum Op {
    /// Records attribute set `set` of the case's pool, spelled: reordered by sorting on
    /// `order`, the attributes whose `copied` is set passed as copied key strings, after
    /// `junk` (more attributes, which a later one with the same key overrides).
    Record {
        inst: usize,
        value: u64,
        set: usize,
        order: Vec<u8>,
        copied: Vec<bool>,
        junk: Vec<Attr>,
    },
    /// Collect, compare, settle as delivered.
    Collect,
}

#[derive(Clone, Debug)]
struct Case {
    keys: [usize; 2],
    delta: bool,
    /// A few attribute sets, so that each is recorded often and in many spellings.
    pool: Vec<Vec<Attr>>,
    ops: Vec<Op>,
}

fn value() -> impl Strategy<Value = V> {
    prop_oneof![
        any::<bool>().prop_map(V::Bool),
        (-2i64..=2).prop_map(V::Int),
        prop::sample::select(vec![0.0, -0.0, 2.5, 1e300]).prop_map(V::Double),
        "[ab]{0,3}".prop_map(V::Str),
        "[abé]{4,20}".prop_map(V::Str),
        "a{28,42}".prop_map(V::Str),
        "[aé]{249,252}".prop_map(V::Str),
    ]
}

fn attr() -> impl Strategy<Value = Attr> {
    (0usize..10, value()).prop_map(|(k, v)| Attr {
        k,
        copied: false,
        v,
    })
}

/// Mostly declared keys, each once: the sets the declared-literal paths take.
fn set() -> impl Strategy<Value = Vec<Attr>> {
    prop_oneof![
        3 => (prop::sample::subsequence((0..8).collect::<Vec<usize>>(), 0..=8),
              prop::collection::vec(value(), 8))
            .prop_map(|(ks, vs)| ks.into_iter().zip(vs).map(|(k, v)| Attr { k, copied: false, v }).collect()),
        1 => prop::collection::vec(attr(), 0..=10),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let junk = prop_oneof![
        4 => Just(Vec::new()),
        1 => prop::collection::vec(attr(), 1..=2),
    ];
    prop_oneof![
        12 => (
            0usize..2,
            1u64..=5,
            0usize..4,
            prop::collection::vec(any::<u8>(), 10),
            prop::collection::vec(prop::bool::weighted(0.1), 10),
            junk,
        )
            .prop_map(|(inst, value, set, order, copied, junk)| Op::Record {
                inst,
                value,
                set,
                order,
                copied,
                junk,
            }),
        1 => Just(Op::Collect),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        // At least one declared key: an instrument without any keeps every attribute
        // (`open_spellings_agree` below).
        (1usize..=8, 1usize..=8),
        any::<bool>(),
        prop::collection::vec(set(), 1..=4),
        prop::collection::vec(op(), 1..120),
    )
        .prop_map(|((a, b), delta, pool, ops)| Case {
            keys: [a, b],
            delta,
            pool,
            ops,
        })
}

/// The attributes `op` records.
fn spell(
    pool: &[Vec<Attr>],
    set: usize,
    order: &[u8],
    copied: &[bool],
    junk: &[Attr],
) -> Vec<Attr> {
    let base = pool
        .get(set % pool.len().max(1))
        .cloned()
        .unwrap_or_default();
    let mut idx: Vec<usize> = (0..base.len()).collect();
    idx.sort_by_key(|&i| (order.get(i).copied().unwrap_or(0), i));
    let mut out = junk.to_vec();
    for (pos, i) in idx.into_iter().enumerate() {
        let mut a = base[i].clone();
        a.copied = copied.get(pos).copied().unwrap_or(false);
        out.push(a);
    }
    out
}

fn key_name(k: usize) -> &'static str {
    match KEYS.get(k) {
        Some(name) => name,
        None if k == 8 => "zz",
        None => "",
    }
}

/// The attribute set a spelling means: per declared key, the last value passed for it
/// (the SDK specification), and how many attributes are left out (undeclared keys and
/// the earlier copies of repeated ones).
fn canonical(n: usize, attrs: &[Attr]) -> (Vec<Option<V>>, u32) {
    let mut set = vec![None; n];
    let mut dropped = 0;
    for a in attrs {
        match set.get_mut(a.k) {
            Some(slot) => {
                if slot.is_some() {
                    dropped += 1;
                }
                *slot = Some(a.v.clone());
            }
            None => dropped += 1,
        }
    }
    (set, dropped)
}

/// Whether the set packs into `k` bytes untouched (nothing cut, nothing left out).
fn fits_whole(set: &[Option<V>], k: usize) -> bool {
    let mut pos = 0;
    for v in set {
        match v {
            None => pos += 1,
            Some(v) => {
                if matches!(v, V::Str(s) if s.len() > 250) || pos + v.size() > k {
                    return false;
                }
                pos += v.size();
            }
        }
    }
    true
}

/// The exported attributes of a set that fits whole, as `snapshot_points` spells them.
fn model_attrs(set: &[Option<V>]) -> Vec<(String, String)> {
    set.iter()
        .zip(KEYS)
        .filter_map(|(v, k)| {
            v.as_ref()
                .map(|v| (k.to_string(), format!("{:?}", v.attr())))
        })
        .collect()
}

type Points = Vec<(String, Vec<(String, String)>, i64)>;

fn snapshot_points<S: MetricsSource>(snap: &S) -> Points {
    let mut out = Vec::new();
    for m in 0..snap.metric_count() {
        let name = snap.metric(m).name.to_string();
        for p in 0..snap.point_count(m) {
            let attrs = (0..snap.attribute_count(m, p))
                .map(|i| {
                    let kv = snap.attribute(m, p, i);
                    (kv.key.to_string(), format!("{:?}", kv.value))
                })
                .collect();
            let PointValue::Int(v) = snap.point(m, p).value else {
                panic!("counter point not an int");
            };
            out.push((name.clone(), attrs, v));
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1, a.2).partial_cmp(&(&b.0, &b.1, b.2)).unwrap());
    out
}

type Reg<const K: usize> = Registry<2, 16, K, 1, 1>;
type Snap<const K: usize> = Snapshot<2, 16, K, 1, 1>;

/// What the model knows about one collect window of one instrument.
#[derive(Default)]
struct Window {
    /// Per attribute set (as exported), the sum recorded.
    sums: BTreeMap<Vec<(String, String)>, i64>,
    /// Whether every set recorded fits whole.
    all_fit: bool,
}

fn run<const K: usize>(case: &Case) -> Result<(), TestCaseError> {
    let temporality = if case.delta {
        Temporality::Delta
    } else {
        Temporality::Cumulative
    };
    let mut spelled = Reg::<K>::new(0);
    let mut canon = Reg::<K>::new(0);
    let mut ids = Vec::new();
    for (j, &n) in case.keys.iter().enumerate() {
        let desc = InstrumentDesc::counter_u64(NAMES[j])
            .attributes(&KEYS[..n])
            .max_series(MAX_SERIES[j])
            .temporality(temporality);
        let a = spelled.declare(desc).unwrap();
        let b = canon.declare(desc).unwrap();
        ids.push((a, b));
    }
    let mut model_dropped = [0u32; 2];
    let mut windows: [Window; 2] = Default::default();
    // Stats are totals: the window's own are the change since the last collect.
    let mut before = [InstrumentStats::default(); 2];
    for w in &mut windows {
        w.all_fit = true;
    }
    let mut now = 0u64;
    let end = [Op::Collect];
    for op in case.ops.iter().chain(&end) {
        match op {
            Op::Record {
                inst,
                value,
                set,
                order,
                copied,
                junk,
            } => {
                let attrs = &spell(&case.pool, *set, order, copied, junk);
                let n = case.keys[*inst];
                let copies: Vec<String> = attrs.iter().map(|a| key_name(a.k).to_string()).collect();
                let kvs: Vec<KeyValue<'_>> = attrs
                    .iter()
                    .zip(&copies)
                    .map(|(a, c)| {
                        let key = if a.copied { c.as_str() } else { key_name(a.k) };
                        KeyValue::new(key, a.v.attr())
                    })
                    .collect();
                let (set, dropped) = canonical(n, attrs);
                model_dropped[*inst] += dropped;
                let canon_keys: Vec<String> = KEYS.iter().map(|k| k.to_string()).collect();
                let canon_kvs: Vec<KeyValue<'_>> = set
                    .iter()
                    .zip(&canon_keys)
                    .filter_map(|(v, k)| v.as_ref().map(|v| KeyValue::new(k, v.attr())))
                    .collect();
                let (a, b) = ids[*inst];
                prop_assert_eq!(spelled.record(a, *value, &kvs), Ok(()));
                prop_assert_eq!(canon.record(b, *value, &canon_kvs), Ok(()));
                let w = &mut windows[*inst];
                if fits_whole(&set, K) {
                    *w.sums.entry(model_attrs(&set)).or_default() += *value as i64;
                } else {
                    w.all_fit = false;
                }
            }
            Op::Collect => {
                now += 1_000;
                let mut snap_a = Snap::<K>::new();
                let mut snap_b = Snap::<K>::new();
                spelled.collect(&mut snap_a, now);
                canon.collect(&mut snap_b, now);
                let points = snapshot_points(&snap_a);
                prop_assert_eq!(&points, &snapshot_points(&snap_b));
                for (j, &(a, b)) in ids.iter().enumerate() {
                    let (sa, sb) = (spelled.stats(a).unwrap(), canon.stats(b).unwrap());
                    prop_assert_eq!(
                        sa,
                        InstrumentStats {
                            dropped_attributes: sb.dropped_attributes + model_dropped[j],
                            ..sb
                        },
                        "instrument {}",
                        j
                    );
                    let w = &mut windows[j];
                    // Where every set fits and none overflowed, the points are the model's.
                    if case.delta && w.all_fit && sa.overflowed == before[j].overflowed {
                        prop_assert_eq!(sa.truncated, before[j].truncated);
                        prop_assert_eq!(sb.dropped_attributes, before[j].dropped_attributes);
                        let mine: Vec<_> = points
                            .iter()
                            .filter(|p| p.0 == NAMES[j])
                            .map(|p| (p.1.clone(), p.2))
                            .collect();
                        let model: Vec<_> = w.sums.iter().map(|(k, v)| (k.clone(), *v)).collect();
                        prop_assert_eq!(mine, model, "instrument {}", j);
                    }
                    // `sb` has no repeated or undeclared keys: its drops are for lack of room.
                    before[j] = InstrumentStats {
                        dropped_attributes: sb.dropped_attributes,
                        ..sa
                    };
                    *w = Window {
                        all_fit: true,
                        ..Window::default()
                    };
                }
                spelled.settle(&snap_a, snap_a.full_span(), Settlement::Delivered);
                canon.settle(&snap_b, snap_b.full_span(), Settlement::Delivered);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Room for a few short values: many sets are cut, and K is below 8 tag bytes.
    #[test]
    fn spellings_agree_small_key(case in case()) {
        run::<8>(&case)?;
    }

    /// Room for two strings of 16 bytes (the crate's documented size).
    #[test]
    fn spellings_agree_k34(case in case()) {
        run::<34>(&case)?;
    }

    /// Room for most sets: strings near 250 bytes are the ones cut.
    #[test]
    fn spellings_agree_large_key(case in case()) {
        run::<300>(&case)?;
    }
}

/// A key declared twice cannot be declared: OTLP attribute keys are unique per point, and
/// with one key in two places a value could be exported twice. Compared by bytes, so a
/// copied string is caught as well as the same literal.
#[test]
fn a_key_declared_twice_is_refused() {
    static DUP: [&str; 3] = [KEYS[0], KEYS[1], KEYS[0]];
    let mut reg = Reg::<34>::new(0);
    assert_eq!(
        reg.declare(InstrumentDesc::counter_u64("dup").attributes(&DUP))
            .map(|_| ()),
        Err(DeclareError::DuplicateKey { index: 2 })
    );
    let copied: &'static str = String::from(KEYS[1]).leak();
    let same_text: &'static [&'static str] = Vec::from([KEYS[1], KEYS[2], copied]).leak();
    assert_eq!(
        reg.declare(InstrumentDesc::counter_u64("dup2").attributes(same_text))
            .map(|_| ()),
        Err(DeclareError::DuplicateKey { index: 2 })
    );
    // Nothing was reserved by the refusals: a valid instrument still declares.
    assert!(reg
        .declare(InstrumentDesc::counter_u64("ok").attributes(&KEYS[..2]))
        .is_ok());
}

// ---- Instruments without declared keys ---------------------------------------------------

/// Keys of the open sets: short, long, non-ASCII, and one too long to store (255 bytes).
fn open_key(k: usize) -> String {
    match k {
        0 => "a".into(),
        1 => "b".into(),
        2 => "method".into(),
        3 => "ключ".into(),
        4 => "k".repeat(40),
        _ => "x".repeat(255),
    }
}

#[derive(Clone, Debug)]
enum OpenOp {
    /// Records set `set` of the pool reordered by `order`, after `junk` (attributes a
    /// later one with the same key overrides).
    Record {
        value: u64,
        set: usize,
        order: Vec<u8>,
        junk: Vec<(usize, V)>,
    },
    Collect,
}

#[derive(Clone, Debug)]
struct OpenCase {
    delta: bool,
    pool: Vec<Vec<(usize, V)>>,
    ops: Vec<OpenOp>,
}

fn open_case() -> impl Strategy<Value = OpenCase> {
    let entry = || {
        (
            prop::sample::select(vec![0usize, 1, 2, 3, 3, 4, 5]),
            value(),
        )
    };
    let set = prop::collection::vec(entry(), 0..=5);
    let op = prop_oneof![
        10 => (
            1u64..=5,
            0usize..4,
            prop::collection::vec(any::<u8>(), 5),
            prop::collection::vec(entry(), 0..=2),
        )
            .prop_map(|(value, set, order, junk)| OpenOp::Record { value, set, order, junk }),
        1 => Just(OpenOp::Collect),
    ];
    (
        any::<bool>(),
        prop::collection::vec(set, 1..=4),
        prop::collection::vec(op, 1..80),
    )
        .prop_map(|(delta, pool, ops)| OpenCase { delta, pool, ops })
}

/// The set a spelling means: last value per key, sorted by key bytes.
fn open_canonical(attrs: &[(usize, V)]) -> Vec<(String, V)> {
    let mut out: BTreeMap<Vec<u8>, (String, V)> = BTreeMap::new();
    for (k, v) in attrs {
        let key = open_key(*k);
        out.insert(key.as_bytes().to_vec(), (key, v.clone()));
    }
    out.into_values().collect()
}

/// Whether the canonical set fits in `k` bytes (each entry: length byte, key, value).
fn open_fits(set: &[(String, V)], k: usize) -> bool {
    let mut size = 0;
    for (key, v) in set {
        if key.len() > 254 || matches!(v, V::Str(s) if s.len() > 250) {
            return false;
        }
        size += 1 + key.len() + v.size();
    }
    size <= k
}

fn open_run<const K: usize>(case: &OpenCase) -> Result<(), TestCaseError> {
    let temporality = if case.delta {
        Temporality::Delta
    } else {
        Temporality::Cumulative
    };
    let desc = InstrumentDesc::counter_u64("open")
        .max_series(MAX_SERIES[1])
        .temporality(temporality);
    let mut spelled = Reg::<K>::new(1);
    let mut canon = Reg::<K>::new(1);
    let a = spelled.declare(desc).unwrap();
    let b = canon.declare(desc).unwrap();
    let mut junk_dropped = 0u32;
    // The model: sums of the sets that fit, per set; the rest only counts.
    let mut sums: BTreeMap<Vec<(String, String)>, i64> = BTreeMap::new();
    let mut oversized = 0u32;
    let mut now = 1u64;
    for op in case.ops.iter().chain(&[OpenOp::Collect]) {
        match op {
            OpenOp::Record {
                value,
                set,
                order,
                junk,
            } => {
                let base = &case.pool[set % case.pool.len()];
                let mut idx: Vec<usize> = (0..base.len()).collect();
                idx.sort_by_key(|&i| (order.get(i).copied().unwrap_or(0), i));
                let mut attrs: Vec<(usize, V)> = junk.clone();
                attrs.extend(idx.into_iter().map(|i| base[i].clone()));
                let keys: Vec<String> = attrs.iter().map(|(k, _)| open_key(*k)).collect();
                let kvs: Vec<KeyValue<'_>> = attrs
                    .iter()
                    .zip(&keys)
                    .map(|((_, v), k)| KeyValue::new(k, v.attr()))
                    .collect();
                let set = open_canonical(&attrs);
                let canon_kvs: Vec<KeyValue<'_>> = set
                    .iter()
                    .map(|(k, v)| KeyValue::new(k, v.attr()))
                    .collect();
                prop_assert_eq!(spelled.record(a, *value, &kvs), Ok(()));
                prop_assert_eq!(canon.record(b, *value, &canon_kvs), Ok(()));
                if open_fits(&set, K) {
                    // Earlier copies of a repeated key are dropped attributes; a set that
                    // does not fit counts once, as oversized.
                    junk_dropped += (kvs.len() - set.len()) as u32;
                    let attrs = set
                        .iter()
                        .map(|(k, v)| (k.clone(), format!("{:?}", v.attr())))
                        .collect();
                    *sums.entry(attrs).or_default() += *value as i64;
                } else {
                    oversized += 1;
                    *sums
                        .entry(vec![("otel.metric.overflow".into(), "Bool(true)".into())])
                        .or_default() += *value as i64;
                }
            }
            OpenOp::Collect => {
                now += 1_000;
                let mut snap_a = Snap::<K>::new();
                let mut snap_b = Snap::<K>::new();
                spelled.collect(&mut snap_a, now);
                canon.collect(&mut snap_b, now);
                let points = snapshot_points(&snap_a);
                prop_assert_eq!(&points, &snapshot_points(&snap_b));
                let (sa, sb) = (spelled.stats(a).unwrap(), canon.stats(b).unwrap());
                prop_assert_eq!(
                    sa,
                    InstrumentStats {
                        dropped_attributes: sb.dropped_attributes + junk_dropped,
                        ..sb
                    }
                );
                prop_assert_eq!((sb.dropped_attributes, sb.truncated), (0, 0));
                prop_assert_eq!(sa.oversized, oversized);
                // Where no set found the table full, the points are the model's (the
                // overflow series holding exactly the sets that did not fit).
                if sa.overflowed == 0 {
                    let mine: Vec<_> = points.iter().map(|p| (p.1.clone(), p.2)).collect();
                    let model: Vec<_> = sums.iter().map(|(k, v)| (k.clone(), *v)).collect();
                    prop_assert_eq!(mine, model);
                }
                if case.delta {
                    sums.clear();
                }
                spelled.settle(&snap_a, snap_a.full_span(), Settlement::Delivered);
                canon.settle(&snap_b, snap_b.full_span(), Settlement::Delivered);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// sdk.md: "If neither is provided, all attributes must be retained." Sets of
    /// undeclared keys are one series however they are spelled, exactly the model's; a
    /// set that does not fit in 16 bytes goes to the overflow series, counted.
    #[test]
    fn open_spellings_agree_small_key(case in open_case()) {
        open_run::<16>(&case)?;
    }

    #[test]
    fn open_spellings_agree_k64(case in open_case()) {
        open_run::<64>(&case)?;
    }

    /// Room for most sets: the 255-byte key and strings near 250 bytes do not fit.
    #[test]
    fn open_spellings_agree_large_key(case in open_case()) {
        open_run::<600>(&case)?;
    }
}
