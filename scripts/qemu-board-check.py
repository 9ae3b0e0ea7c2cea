#!/usr/bin/env python3
"""Checks one boot of the emulated board (scripts/qemu-board.sh runs it after each boot).

It reads the board's console (QEMU's stderr) and the sink's output, and checks:

- the run: exit status 0, the MAC address read from the chip, the temporality and the
  number of exports the boot was told;
- the faults: the sink answered its requests in the order of its fault script, then
  normally; each export met what the script says it should (an export whose 503
  `Retry-After` fits in its deadline, or whose connection was reset, retries and
  succeeds; one whose `Retry-After` does not fit fails at once with every point kept);
  a `Retry-After` is honoured in full across exports: every export whose deadline comes
  before the server's instant (the wait plus up to a quarter more as jitter) ends at once
  with every point kept and no request, and the next one waits for that instant within
  its deadline and delivers it all, never before the wait has passed on the board's
  clock; with the link down every export fails with
  every point kept; every other export delivers all its points; nothing is ever
  dropped; the client closes every connection;
- the data: what the sink decoded equals what the firmware says it recorded (delta: the
  points added up; cumulative: the latest point of each series), sums, counts and
  bucket counts exactly; the SysTick counter, recorded from the interrupt handler, rises
  between consecutive exports;
- the time stamps: cumulative series keep one start with 0 < start <= time; delta points
  of a series never overlap (each start >= the previous point's time), and the SysTick
  counter's points follow each other without a gap (no data lost in between);
- every connection the sink accepted was closed, no request failed to decode.

Usage: qemu-board-check.py BOARD_LOG SINK_LOG --mac MAC --status N --exports N
       --temporality delta|cumulative --script SINK_SCRIPT --toggled 0|1
Exits 1 when a check fails; prints one line per check.
"""

import argparse
import re
import sys

# The firmware's export settings (examples/firmware-qemu/src/main.rs): the export
# deadline, the interval between exports, the cap on its own backoff (`max_delay_ms`, which
# also caps the jitter on a server's Retry-After, never the Retry-After itself), the first
# retry backoff's ceiling.
EXPORT_TIMEOUT_S = 5.0
EXPORT_INTERVAL_S = 1.0
MAX_DELAY_S = 10.0
FIRST_BACKOFF_S = 0.2


def retry_after_window(seconds):
    """When a server's `Retry-After: seconds` lets the next request go, as (earliest,
    latest) seconds after its answer: core's policy adds up to a quarter of the wait as
    jitter (at most `max_delay_ms`), so that a fleet told the same wait does not return in
    lockstep, and never shortens it."""
    return seconds, seconds + min(seconds / 4, MAX_DELAY_S)

TEMPORALITY = {"delta": "1", "cumulative": "2"}

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
    return ok


def expand(script):
    """The sink's script, one fault per request: `503=1*2,reset` -> [503=1, 503=1, reset]."""
    out = []
    for step in filter(None, script.split(",")):
        fault, _, n = step.rpartition("*") if "*" in step else (step, "", "1")
        out.extend([fault] * int(n))
    return out


def answer_of(fault):
    """How the sink reports a fault it applied (`Fault`'s Debug form), the status it sends
    and whether the request counts as delivered."""
    if fault == "none":
        return "None", "Some(200)", "true"
    if fault.startswith("idle-close="):
        return f"IdleClose({int(fault.split('=')[1])}ms)", "Some(200)", "true"
    if fault.startswith("503="):
        return f"Unavailable(Some(Seconds({int(fault.split('=')[1])})))", "Some(503)", "false"
    if fault == "reset":
        return "Reset", "None", "false"
    raise SystemExit(f"qemu-board-check: no expectation written for fault {fault!r}")


def plan(faults):
    """What each export meets while the script lasts: (outcome, retries, held) per export,
    `held` the Retry-After window (seconds after the answer, see `retry_after_window`) that
    the exports after this one are held back by, or None.

    An export ends at its first answered request; a 503 waits its Retry-After in full (plus
    jitter) and a reset the first backoff (at most), unless that wait would reach the export
    deadline, which ends the export failed with its data kept. A 503's wait outlives its
    export: the exports whose deadline comes before it ends send nothing (they are not in
    this plan, which lists the exports that send)."""
    exports = []
    at = 0
    while at < len(faults):
        waited, retries = 0.0, 0
        while True:
            fault = faults[at] if at < len(faults) else "none"
            at += 1
            if fault == "none" or fault.startswith("idle-close="):
                exports.append(("Success", retries, None))
                break
            window = None
            if fault.startswith("503="):
                window = retry_after_window(float(fault.split("=")[1]))
                earliest, latest = window
            elif fault == "reset":
                earliest, latest = 0.0, FIRST_BACKOFF_S
            else:
                raise SystemExit(f"qemu-board-check: no plan written for fault {fault!r}")
            if waited + earliest >= EXPORT_TIMEOUT_S:
                exports.append(("Failed", retries, window))
                break
            if waited + latest >= EXPORT_TIMEOUT_S:
                raise SystemExit(f"qemu-board-check: fault {fault!r} may or may not fit in "
                                 "the export deadline, by its jitter: script another")
            waited += latest
            retries += 1
    return exports


def fields(text):
    return dict(kv.split("=", 1) for kv in text.split())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("board_log")
    ap.add_argument("sink_log")
    ap.add_argument("--mac", required=True)
    ap.add_argument("--status", required=True)
    ap.add_argument("--exports", type=int, required=True)
    ap.add_argument("--temporality", choices=TEMPORALITY, required=True)
    ap.add_argument("--script", required=True)
    ap.add_argument("--toggled", required=True)
    a = ap.parse_args()
    board = open(a.board_log).read().splitlines()
    sink = open(a.sink_log).read().splitlines()
    delta = a.temporality == "delta"

    # ---- the run
    check(a.status == "0", f"board exit status 0 (got {a.status})")
    check(f"mac {a.mac}" in board, f"board printed the MAC address it read from the chip ({a.mac})")
    check(f"run: temporality {a.temporality}, {a.exports} exports" in board,
          f"board was told: {a.temporality}, {a.exports} exports")

    # ---- the exports, as the firmware reports them
    export_re = re.compile(
        r"export (\d+): (\w+), points (\d+) sent (\d+) abandoned (\d+) dropped (\d+), "
        r"requests (\d+) retries (\d+), bytes \d+, ticks since last export (\d+), "
        r"socket \S+, client (\w+)$")
    exports = []
    for i, line in enumerate(board):
        m = export_re.match(line)
        if m:
            n, outcome, points, sent, abandoned, dropped, requests, retries, ticks, client = \
                m.groups()
            exports.append(dict(line=i, n=int(n), outcome=outcome, points=int(points),
                                sent=int(sent), abandoned=int(abandoned), dropped=int(dropped),
                                requests=int(requests), retries=int(retries), ticks=int(ticks),
                                client=client, text=line))
    check([e["n"] for e in exports] == list(range(1, a.exports + 1)),
          f"{a.exports} exports, numbered in order (got {len(exports)})")

    def kept_all(e):
        return e["outcome"] == "Failed" and e["sent"] == 0 and e["points"] > 0 \
            and e["abandoned"] == e["points"]

    def delivered_all(e):
        return e["outcome"] == "Success" and e["sent"] == e["points"] and e["abandoned"] == 0

    def held_back(e):
        return kept_all(e) and e["requests"] == 0 and e["retries"] == 0

    faults = expand(a.script)
    planned = plan(faults)
    print(f"     fault script {a.script}: planned per export that sends {planned}")
    # The exports the script accounts for: the planned ones, and those a Retry-After held.
    scripted = []
    position = 0
    for outcome, retries, held in planned:
        if position >= len(exports):
            check(False, f"an export for every planned one ({len(planned)})")
            break
        e = exports[position]
        position += 1
        scripted.append(e)
        ok = (kept_all(e) if outcome == "Failed" else delivered_all(e)) and e["retries"] == retries
        check(ok, f"export {e['n']} met its faults: {outcome} after {retries} retries "
                  f"(got {e['outcome']} after {e['retries']}, points {e['points']} "
                  f"sent {e['sent']} abandoned {e['abandoned']})")
        if held is None:
            continue
        # The server's wait is kept past this export: an export whose deadline comes before
        # the server's instant ends at once, data kept, sending nothing; the next one waits
        # for that instant within its deadline, then sends.
        earliest, latest = held
        run = []
        while position < len(exports) and held_back(exports[position]):
            run.append(exports[position])
            position += 1
        scripted.extend(run)
        # Held exports start at least an interval apart on the board's clock, and each at
        # least an export deadline before the server's instant: at most this many. At least
        # one, as the wait is longer than a deadline and an interval.
        most = int((latest - EXPORT_TIMEOUT_S) / EXPORT_INTERVAL_S) + 1
        check(1 <= len(run) <= most,
              f"Retry-After {earliest:g} s after export {e['n']}: exports "
              f"{', '.join(str(h['n']) for h in run)} ended at once, every point kept and no "
              f"request sent ({len(run)}, between 1 and {most})")
        if position >= len(exports):
            check(False, f"an export after the Retry-After of export {e['n']} delivered")
            break
        first = exports[position]
        # Board milliseconds (SysTick, the exporter's clock) from the end of the export
        # that was told to wait. The held exports take no time of their own and the told
        # export's close a few milliseconds: one interval covers both.
        last_held_ms = sum(h["ticks"] for h in run)
        first_sent_ms = last_held_ms + first["ticks"]
        held_by = latest - EXPORT_TIMEOUT_S + EXPORT_INTERVAL_S
        check(last_held_ms < held_by * 1000,
              f"the last held export (export {run[-1]['n'] if run else '-'}) started an export "
              f"deadline before the window's end: {last_held_ms} ms after export {e['n']} "
              f"< {held_by:g} s")
        check(first_sent_ms >= (earliest - EXPORT_INTERVAL_S) * 1000 and delivered_all(first)
              and first["retries"] == 0,
              f"export {first['n']}, the next, waited for the server's instant and delivered "
              f"everything kept, {first_sent_ms} ms after export {e['n']} (the server's wait "
              f"was not cut to the {MAX_DELAY_S:g} s backoff cap: >= "
              f"{earliest - EXPORT_INTERVAL_S:g} s)")

    check(a.toggled == "1", "the link was taken down, and up again after an export failed")
    went_down = [i for i, l in enumerate(board) if re.match(r"link: down at \d+ ms$", l)]
    came_up = [i for i, l in enumerate(board) if re.match(r"link: up at \d+ ms$", l)]
    check(len(went_down) == 1, "the firmware logged the link going down, once")
    check(len(came_up) == 1, "the firmware logged the link coming up, once")
    lo, hi = (went_down + [len(board)])[0], (came_up + [len(board)])[0]
    down = [e for e in exports if lo < e["line"] < hi]
    check(len(down) >= 1, f"{len(down)} export(s) while the link was down")
    for e in down:
        check(kept_all(e), f"with the link down, export {e['n']} failed and kept all its points")
    rest = [e for e in exports if e not in scripted and e not in down]
    bad = [e["n"] for e in rest if not delivered_all(e)]
    check(not bad, f"every other export ({len(rest)}) delivered all its points (not: {bad})")
    check(all(e["dropped"] == 0 for e in exports), "no export dropped a point")
    check(all(e["client"] == "Closed" for e in exports),
          "the client closed its connection after every export")
    rises = [e["ticks"] for e in exports]
    check(all(r > 0 for r in rises), f"SysTick counter rose between exports (firmware: {rises})")

    # ---- what the sink was asked and answered
    answers = [re.search(r"fault (.*), status (\S+), acknowledged (\w+)$", l).groups()
               for l in sink if l.startswith("conn ")]
    wanted = [answer_of(f) for f in faults]
    wanted += [answer_of("none")] * (len(answers) - len(wanted))
    check(answers == wanted, f"the sink answered {len(answers)} requests as scripted: "
                             f"{', '.join(f for f, _, _ in answers[:len(faults) + 1])}, then None")
    delivered = [e for e in exports if e["outcome"] == "Success"]
    acknowledged = sum(1 for _, _, ack in answers if ack == "true")
    check(acknowledged == len(delivered),
          f"one acknowledged request per delivering export ({acknowledged} == {len(delivered)})")

    # ---- the data
    recorded = {}
    for l in board:
        m = re.match(r"recorded (\S+) (.*)", l)
        if m:
            recorded[m.group(1)] = fields(m.group(2))
    points = {}
    for l in sink:
        m = re.match(r"point (\S+) (.*)", l)
        if m:
            points.setdefault(m.group(1), []).append(fields(m.group(2)))
    totals = {}
    stats = {}
    for l in sink:
        m = re.match(r"total (\S+) (.*)", l)
        if m:
            totals[m.group(1)] = fields(m.group(2))
        if l.startswith("stats "):
            stats = fields(l[len("stats "):])

    every = [p for ps in points.values() for p in ps]
    want = TEMPORALITY[a.temporality]
    check(len(every) > 0 and all(p["temporality"] == want for p in every),
          f"every point is {a.temporality.upper()} (temporality {want})")
    check(all(t.get("temporality") == want for t in totals.values()),
          "every series total says so too")

    for key, ps in sorted(points.items()):
        starts = [int(p["start"]) for p in ps]
        times = [int(p["time"]) for p in ps]
        check(all(0 < s <= t for s, t in zip(starts, times)), f"{key}: 0 < start <= time in every point")
        check(all(t1 < t2 for t1, t2 in zip(times, times[1:])), f"{key}: times rise point to point")
        if delta:
            check(all(s >= t for s, t in zip(starts[1:], times)),
                  f"{key}: delta points do not overlap (each start >= the previous time)")
        else:
            check(len(set(starts)) == 1, f"{key}: one start time for the series ({len(set(starts))})")
    if delta:
        ps = points.get("board.systick.ticks{}", [])
        check(all(int(b["start"]) == int(p["time"]) for p, b in zip(ps, ps[1:])),
              "board.systick.ticks: each point starts where the previous ended (nothing lost)")

    def num(s):
        return float(s)

    ticks = totals.get("board.systick.ticks{}", {})
    r = recorded["board.systick.ticks"]
    check(num(ticks.get("value", "-1")) == num(r["sum"]),
          f"board.systick.ticks: sink {ticks.get('value')} == recorded {r['sum']}")
    tick_points = [int(p["value"]) for p in points.get("board.systick.ticks{}", [])]
    if delta:
        rising = len(tick_points) == len(delivered) and all(v > 0 for v in tick_points)
    else:
        rising = len(tick_points) == len(delivered) and all(
            v1 < v2 for v1, v2 in zip(tick_points, tick_points[1:]))
    check(rising, f"the SysTick counter rose between the {len(delivered)} delivered exports "
                  f"(sink: {tick_points})")

    for name in ("board.systick.latency", "board.loop.iteration"):
        t = totals.get(name + "{}", {})
        r = recorded[name]
        check(num(t.get("count", "-1")) == num(r["count"]), f"{name}: count sink {t.get('count')} == recorded {r['count']}")
        check(num(t.get("sum", "-1")) == num(r["sum"]), f"{name}: sum sink {t.get('sum')} == recorded {r['sum']}")
        ps = points.get(name + "{}", [])
        buckets = [[int(x) for x in p["buckets"].split(",")] for p in ps]
        if delta:
            got = [sum(col) for col in zip(*buckets)] if buckets else None
        else:
            got = buckets[-1] if buckets else None
        want_buckets = [int(x) for x in r["buckets"].split(",")]
        check(got == want_buckets, f"{name}: buckets sink {got} == recorded {want_buckets}")
        if name == "board.loop.iteration":
            populated = sum(1 for c in (got or []) if c > 0)
            check(populated >= 3, f"{name}: at least 3 buckets populated ({populated})")

    for d in ("rx", "tx"):
        key = f"board.nic.frames{{direction={d}}}"
        t = totals.get(key, {})
        r = recorded[key]
        check(num(t.get("value", "-1")) == num(r["sum"]), f"{key}: sink {t.get('value')} == recorded {r['sum']}")

    accepted, closed = int(stats.get("accepted", -1)), int(stats.get("closed", -2))
    check(accepted >= len(answers) > 0 and accepted == closed,
          f"every connection closed (accepted {accepted}, closed {closed}, requests {len(answers)})")
    check(stats.get("requests") == str(len(answers)), "the sink printed every request it read")
    check(stats.get("decode_errors") == "0", "no request failed to decode")

    if failures:
        print(f"qemu-board: {a.temporality}: {len(failures)} check(s) failed")
        sys.exit(1)


main()
