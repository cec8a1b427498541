#!/usr/bin/env python3
"""bench-report.py — the arithmetic of tests/bench/run-bench.sh: one figure line per pchat-load
report (with the CPU each process spent in the measured window), the final table, the JSON
summary and the generated section of docs/PERFORMANCE.md.

  bench-report.py run OUT NAME PHASE [key=value ...] -- LOAD.json [LOAD.json ...]
        appends one record to OUT/records.jsonl, prints its figures as shell assignments
  bench-report.py record OUT NAME PHASE [key=value ...]
        appends a record made only of the key=value pairs (baselines measured by other tools)
  bench-report.py final OUT [DOC]
        writes OUT/results.json, prints the final table, and rewrites DOC between
        <!-- bench:begin --> and <!-- bench:end --> when DOC is given
Several LOAD.json files (the Lync model's three loaders) are added up; their latency
percentiles cannot be merged, so the record keeps each and the largest as an upper bound.
"""
import json
import os
import re
import sys

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
PEER_CAPACITY = (240, 320)        # ejabberd, research/peer-ejabberd.md
GOAL_P99_MS = 100.0


def die(msg):
    sys.stderr.write("bench-report.py: %s\n" % msg)
    sys.exit(2)


def number(v):
    try:
        f = float(v)
    except ValueError:
        return v
    return int(f) if f.is_integer() and "." not in v else f


def pairs(args):
    out = {}
    for a in args:
        k, sep, v = a.partition("=")
        if not sep:
            die("expected key=value, got '%s'" % a)
        out[k] = number(v)
    return out


def ms(us):
    return round(us / 1000.0, 2)


# ---- CPU windows -----------------------------------------------------------------------------

def read_cpu(path):
    """A snapshot file of run-bench.sh: 't=SECONDS' then 'ROLE TICKS' lines."""
    snap = {"t": None, "ticks": {}}
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 1 and parts[0].startswith("t="):
                    snap["t"] = float(parts[0][2:])
                elif len(parts) == 2:
                    snap["ticks"][parts[0]] = snap["ticks"].get(parts[0], 0) + int(parts[1])
    except OSError:
        return None
    return snap if snap["t"] is not None else None


def cpu_window(before, after, hz):
    """Cores each role used between two snapshots (ticks / hz / seconds)."""
    a, b = read_cpu(before), read_cpu(after)
    if not a or not b or b["t"] <= a["t"]:
        return None
    secs = b["t"] - a["t"]
    cores = {}
    for role, t1 in b["ticks"].items():
        t0 = a["ticks"].get(role)
        if t0 is not None:
            cores[role] = round(max(0, t1 - t0) / hz / secs, 2)
    return {"seconds": round(secs, 1), "cores": cores}


# ---- one pchat-load report -------------------------------------------------------------------

def load_figures(d):
    cfg, req, posts = d["config"], d["requests"], d["posts"]
    dur = float(d["run"].get("schedule_s") or cfg["duration_s"]) or 1.0
    window = [s for s in d["per_second"] if s["t"] < dur]
    post = req.get("post", {})
    hist = lambda h: {k: ms(h.get(k, 0)) for k in ("p50", "p90", "p99", "max")}
    mem = []
    for p in d["memory"]["pool"]:
        def kb(phase, key="rss_kb"):
            v = (p.get(phase) or {}).get(key)
            return v if v is not None else 0
        mem.append({"pid": p["pid"], "name": p["name"], "rss_start_kb": kb("start"),
                    "rss_after_setup_kb": kb("after_setup"), "rss_end_kb": kb("end"),
                    "hwm_end_kb": kb("end", "hwm_kb")})
    joins = req.get("join", {})
    # the per-second series counts every kind; with joins scheduled too, take the post totals
    only_posts = not any(cfg["rates"].get(k) for k in ("join", "history", "search"))
    if only_posts:
        goodput = sum(s["accepted"] for s in window) / dur
        r503 = sum(s["rejected_503"] for s in window) / dur
    else:
        goodput = post.get("accepted", 0) / dur
        r503 = post.get("rejected_503", 0) / dur
    return {
        "users": cfg["users"], "ready": d["setup"]["ready"], "setup_s": d["setup"]["setup_s"],
        "rooms": "+".join("%dx%d" % (r["size"], r["count"]) for r in cfg["rooms"]),
        "duration_s": dur, "completed": d["completed"],
        "post_rate": cfg["rates"]["post"], "join_rate": cfg["rates"]["join"],
        "offered": post.get("offered", 0), "accepted": post.get("accepted", 0),
        "goodput_per_s": round(goodput, 1), "r503_per_s": round(r503, 1),
        "deliveries_per_s": round(sum(s["deliveries"] for s in window) / dur, 1),
        "posts_503": post.get("rejected_503", 0), "posts_gave_up": post.get("gave_up", 0),
        "posts_timeouts": post.get("timeouts", 0), "posts_failed": post.get("failed", 0),
        "posts_dropped": post.get("dropped", 0), "posts_deferred": post.get("deferred", 0),
        "joins_accepted": joins.get("accepted", 0), "joins_503": joins.get("rejected_503", 0),
        "responses_503": d["retry_after"]["responses_503"],
        "with_retry_after": d["retry_after"]["with_retry_after"],
        "retry_after_percent": d["retry_after"]["percent"],
        "answer_ms": hist(post.get("answer_us", {})),
        "delivery_ms": hist(posts["delivery_us"]),
        "deliveries": posts["deliveries"], "expected": posts["expected"], "lost": posts["lost"],
        "echo_lost": posts["echo_lost"], "duplicates": posts["duplicates"],
        "reordered": posts["reordered"], "drain_cut_short": d["run"]["drain_cut_short"],
        "memory": mem, "tool_rss_kb": (d["memory"].get("tool") or {}).get("rss_kb"),
        "tool_cpu_run_s": d["cpu"]["run_s"], "tool_cpu_setup_s": d["cpu"]["setup_s"],
        "violations": d["violations"]["total"],
    }


def combine(figs):
    """The Lync model: several loaders at once, added up."""
    if len(figs) == 1:
        return figs[0]
    out = {"parts": figs}
    for k in ("users", "ready", "offered", "accepted", "goodput_per_s", "r503_per_s",
              "deliveries_per_s", "posts_503", "posts_timeouts", "posts_failed", "deliveries",
              "expected", "lost", "echo_lost", "duplicates", "reordered", "joins_accepted",
              "joins_503", "responses_503", "with_retry_after", "post_rate", "join_rate",
              "violations", "tool_cpu_run_s"):
        out[k] = round(sum(f.get(k) or 0 for f in figs), 2)
    for k in ("answer_ms", "delivery_ms"):
        out[k] = {q: max(f[k][q] for f in figs) for q in ("p50", "p90", "p99", "max")}
    # bounds of the merged p99 post->delivery: above it lie at most 1 % of each part's
    # deliveries (upper bound: the largest p99); a part carrying share w of all deliveries puts
    # w × 10 % of them above its p90, so when that is ≥ 1 % the merged p99 is at least its p90
    total = sum(f["deliveries"] for f in figs) or 1
    low = 0.0
    for f in figs:
        w = f["deliveries"] / total
        d = f["delivery_ms"]
        if w >= 0.10:
            low = max(low, d["p90"])
        elif w >= 0.02:
            low = max(low, d["p50"])
    out["delivery_p99_bounds_ms"] = [low, out["delivery_ms"]["p99"]]
    out["setup_s"] = max(f["setup_s"] for f in figs)
    out["memory"] = figs[-1]["memory"]
    out["duration_s"] = min(f["duration_s"] for f in figs)
    r = out["responses_503"]
    out["retry_after_percent"] = round(100.0 * out["with_retry_after"] / r, 1) if r else None
    return out


def shell_line(rec):
    f = rec
    keys = {
        "P99": f["delivery_ms"]["p99"], "ANSWER_P99": f["answer_ms"]["p99"],
        "GOODPUT": f["goodput_per_s"], "DELIVERIES": f["deliveries_per_s"],
        "R503": f["posts_503"], "TIMEOUTS": f["posts_timeouts"], "LOST": f["lost"],
        "OFFERED": f["offered"], "ACCEPTED": f["accepted"], "READY": f["ready"],
        "PASS": int(f.get("pass", 0)), "VERDICT": f.get("verdict", ""),
    }
    for k, v in keys.items():
        print("%s=%s" % (k, json.dumps(v) if isinstance(v, str) else v))


def verdict(rec):
    """Whether a run sustained its rate: the criteria of docs/PERFORMANCE.md."""
    phase = rec["phase"]
    offered = max(rec["offered"], 1)
    complete = rec["accepted"] >= 0.99 * offered and rec["posts_timeouts"] == 0
    if phase == "uas":
        ok = complete and rec["answer_ms"]["p99"] < GOAL_P99_MS
        why = "p99 request->answer %.1f ms" % rec["answer_ms"]["p99"]
    else:
        ok = (complete and rec["posts_503"] == 0 and rec["lost"] == 0
              and rec["delivery_ms"]["p99"] < GOAL_P99_MS)
        why = "p99 post->delivery %.1f ms" % rec["delivery_ms"]["p99"]
    if not complete:
        why += ", %d of %d accepted, %d timeouts" % (rec["accepted"], rec["offered"],
                                                     rec["posts_timeouts"])
    if phase != "uas" and (rec["posts_503"] or rec["lost"]):
        why += ", %d posts 503, %d lost" % (rec["posts_503"], rec["lost"])
    rec["pass"] = bool(ok)
    rec["verdict"] = ("sustained: " if ok else "not sustained: ") + why


def cmd_run(argv):
    if "--" not in argv or len(argv) < 4:
        die("usage: run OUT NAME PHASE [key=value ...] -- LOAD.json ...")
    sep = argv.index("--")
    out, name, phase = argv[0], argv[1], argv[2]
    extra = pairs(argv[3:sep])
    figs = []
    for path in argv[sep + 1:]:
        try:
            with open(path) as f:
                figs.append(load_figures(json.load(f)))
        except (OSError, ValueError, KeyError) as e:
            die("cannot read the pchat-load report %s: %s" % (path, e))
    rec = combine(figs)
    rec.update({"name": name, "phase": phase})
    hz = os.sysconf("SC_CLK_TCK")
    before, after = extra.pop("cpu_before", None), extra.pop("cpu_after", None)
    if before and after:
        rec["cpu"] = cpu_window(before, after, hz)
    rec.update(extra)
    verdict(rec)
    with open(os.path.join(out, "records.jsonl"), "a") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")
    shell_line(rec)


def cmd_record(argv):
    if len(argv) < 3:
        die("usage: record OUT NAME PHASE [key=value ...]")
    rec = {"name": argv[1], "phase": argv[2]}
    rec.update(pairs(argv[3:]))
    with open(os.path.join(argv[0], "records.jsonl"), "a") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")


# ---- the final summary -------------------------------------------------------------------------

def load_records(out):
    recs = []
    try:
        with open(os.path.join(out, "records.jsonl")) as f:
            for line in f:
                if line.strip():
                    recs.append(json.loads(line))
    except OSError:
        pass
    return recs


def by_phase(recs, phase):
    return [r for r in recs if r["phase"] == phase]


def last(recs, phase, **match):
    for r in reversed(recs):
        if r["phase"] == phase and all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def fmt(v, digits=0):
    if v is None:
        return "—"
    if isinstance(v, (int, float)):
        if digits == 0:
            return "{:,}".format(int(round(v)))
        return "{:,.{}f}".format(v, digits)
    return str(v)


def cpu_text(r):
    c = (r.get("cpu") or {}).get("cores") or {}
    if not c:
        return "—"
    fe = sum(v for k, v in c.items() if k.startswith("fe"))
    w = sum(v for k, v in c.items() if k.startswith("w"))
    return "%.2f / %.2f / %.2f / %.2f (%.2f)" % (fe, w, c.get("pg", 0), c.get("load", 0),
                                               c.get("machine", 0))


def fe_mem(r):
    for m in r.get("memory") or []:
        if m["name"] == "pchat-frontend":
            return m
    return None


def mb(kb):
    return "%.0f MB" % (kb / 1024.0) if kb else "—"


def summarize(recs, meta):
    s = {"meta": meta, "goals": []}
    uas = last(recs, "uas_result")
    pg = last(recs, "pgbench")
    cap = last(recs, "capacity_result")
    s["baselines"] = {
        "sip_stack_posts_per_s": uas and uas.get("ceiling"),
        "pgbench_inserts_per_s": pg and pg.get("tps"),
    }
    capacity = cap and cap.get("capacity")
    s["capacity"] = {
        "posts_per_s": capacity,
        "deliveries_per_s": cap and cap.get("deliveries_per_s"),
        "p99_ms": cap and cap.get("p99_ms"),
        "confirmed": cap and cap.get("confirmed"),
        "given": cap and cap.get("given"),
        "vs_sip_stack": round(capacity / uas["ceiling"], 3) if capacity and uas and uas.get("ceiling") else None,
        "vs_pgbench": round(capacity / pg["tps"], 3) if capacity and pg and pg.get("tps") else None,
        "vs_peer_ejabberd": [round(capacity / p, 2) for p in PEER_CAPACITY] if capacity else None,
    }
    if capacity:
        s["goals"].append({"goal": "capacity ahead of ejabberd (240–320 posts/s at p99 < 100 ms)",
                           "measured": "%s posts/s" % fmt(capacity),
                           "met": capacity > PEER_CAPACITY[1]})
    over = []
    for r in by_phase(recs, "overload"):
        m = fe_mem(r) or {}
        over.append({"knobs": r.get("knobs"), "multiple": r.get("multiple"),
                     "offered_per_s": r.get("post_rate"), "goodput_per_s": r["goodput_per_s"],
                     "goodput_vs_capacity": round(r["goodput_per_s"] / capacity, 3) if capacity else None,
                     "r503_per_s": r["r503_per_s"], "retry_after_percent": r["retry_after_percent"],
                     "answer_p99_ms": r["answer_ms"]["p99"], "delivery_p99_ms": r["delivery_ms"]["p99"],
                     "fe_rss_start_kb": m.get("rss_start_kb"), "fe_rss_end_kb": m.get("rss_end_kb"),
                     "cpu": r.get("cpu")})
    s["overload"] = over
    for knobs in ("default", "tuned"):
        tens = [o for o in over if o["knobs"] == knobs and o["multiple"] == 10]
        if tens and capacity:
            o = tens[-1]
            s["goals"].append({"goal": "goodput ≥ 90 %% of capacity at 10× (%s knobs)" % knobs,
                               "measured": "%s posts/s = %.0f %%" % (fmt(o["goodput_per_s"]),
                                                                  100 * o["goodput_vs_capacity"]),
                               "met": o["goodput_vs_capacity"] >= 0.9})
    ra = [o["retry_after_percent"] for o in over if o["retry_after_percent"] is not None]
    if ra:
        s["goals"].append({"goal": "every 503 carries Retry-After",
                           "measured": "%s %% (lowest of the overload runs)" % fmt(min(ra), 1),
                           "met": min(ra) >= 100})
    growth = []
    for knobs in ("default", "tuned"):
        two = [o for o in over if o["knobs"] == knobs and o["multiple"] == 2 and o["fe_rss_end_kb"]]
        ten = [o for o in over if o["knobs"] == knobs and o["multiple"] == 10 and o["fe_rss_end_kb"]]
        if two and ten:
            growth.append((knobs, two[-1]["fe_rss_end_kb"], ten[-1]["fe_rss_end_kb"]))
    if growth:
        s["overload_memory"] = [{"knobs": k, "fe_rss_end_2x_kb": a, "fe_rss_end_10x_kb": b}
                                for k, a, b in growth]
        s["goals"].append({"goal": "memory bounded under overload (front end RSS after 10× "
                                   "below twice its RSS after 2×)",
                           "measured": ", ".join("%s %s → %s" % (k, mb(a), mb(b)) for k, a, b in growth),
                           "met": all(b < 2 * a for _, a, b in growth)})
    lync = last(recs, "lync")
    if lync:
        s["lync"] = {k: lync.get(k) for k in ("users", "ready", "post_rate", "join_rate",
                                               "goodput_per_s", "deliveries_per_s", "delivery_ms",
                                               "answer_ms", "lost", "posts_503", "joins_503",
                                               "large_room", "cpu")}
        s["lync"]["classes"] = [{"rooms": p["rooms"], "users": p["users"], "post_rate": p["post_rate"],
                                 "deliveries_per_s": p["deliveries_per_s"],
                                 "delivery_p99_ms": p["delivery_ms"]["p99"],
                                 "delivery_ms": p["delivery_ms"],
                                 "lost": p["lost"]} for p in lync.get("parts", [])]
        low, high = lync.get("delivery_p99_bounds_ms") or [0, lync["delivery_ms"]["p99"]]
        s["lync"]["delivery_p99_bounds_ms"] = [low, high]
        if high < GOAL_P99_MS:
            met = lync["lost"] == 0
        elif low >= GOAL_P99_MS:
            met = False
        else:
            met = None
        s["goals"].append({"goal": "Lync pool model: p99 post→delivery < 100 ms",
                           "measured": "between %s and %s ms (bounds from the three room classes' "
                                       "percentiles)" % (fmt(low, 1), fmt(high, 1)),
                           "met": met})
    scale = last(recs, "scale")
    if scale:
        s["scale"] = {k: scale.get(k) for k in ("sessions", "fe_rss_idle_kb", "fe_rss_kb",
                                                 "per_session_kb", "extrapolated_20k_kb")}
        s["goals"].append({"goal": "20,000 sessions on one front end in < 1 GiB RSS",
                           "measured": "%s sessions measured, %s; 20,000 extrapolated: %s" % (
                               fmt(scale["sessions"]), mb(scale["fe_rss_kb"]),
                               mb(scale["extrapolated_20k_kb"])),
                           "met": scale["extrapolated_20k_kb"] < 1024 * 1024})
    incidents = [{"run": r.get("run"), "process": r.get("process"), "what": r.get("what")}
                 for r in by_phase(recs, "incident")]
    s["incidents"] = incidents
    s["goals"].append({"goal": "no pool process dies under any of these loads",
                       "measured": "%d died" % len(incidents) if incidents else "none died",
                       "met": not incidents})
    comp = last(recs, "compliance")
    if comp:
        s["compliance"] = {k: comp.get(k) for k in ("events", "drain_per_s", "xml_per_s",
                                                     "end_to_end_per_s")}
        if capacity and comp.get("drain_per_s"):
            s["compliance"]["drain_vs_capacity"] = round(comp["drain_per_s"] / capacity, 1)
            worst = min(v for v in (comp.get("drain_per_s"), comp.get("xml_per_s"),
                                    comp.get("end_to_end_per_s")) if v)
            s["compliance"]["slowest_vs_capacity"] = round(worst / capacity, 1)
            s["goals"].append({"goal": "compliance drained at ≥ 10× the post capacity",
                               "measured": "%.0f× (drain), %.0f× (slowest stage)" % (
                                   comp["drain_per_s"] / capacity, worst / capacity),
                               "met": worst / capacity >= 10})
    return s


# ---- text and markdown -------------------------------------------------------------------------

def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def markdown(recs, s):
    meta = s["meta"]
    L = []
    L.append("### Run of %s (%s)" % (meta.get("date", "?"), "quick: BENCH_QUICK=1" if meta.get("quick") else "full"))
    L.append("")
    L.append("Machine: %s × %s, %s GiB, kernel %s, %s; open-files hard limit %s. "
             "PostgreSQL %s (private cluster, `synchronous_commit = on`), sofia-sip %s. "
             "Commit %s. The bench took %s min." % (
                 meta.get("nproc"), meta.get("cpu"), meta.get("mem_gib"), meta.get("kernel"),
                 meta.get("os"), meta.get("nofile"), meta.get("pg"), meta.get("sofia"),
                 meta.get("commit"), meta.get("minutes")))
    L.append("")
    L.append("CPU columns are cores used during the measured window (the steady schedule, after "
             "set-up): front end / channel workers / PostgreSQL / pchat-load, and in brackets "
             "the whole machine's busy time (of %s cores; it includes what no process is charged "
             "with, such as softirq work of loopback TCP)." % meta.get("nproc", "?"))
    L.append("")

    L.append("#### Goals")
    L.append("")
    L.append(table(["goal", "measured", "met"],
                   [[g["goal"], g["measured"],
                     "yes" if g["met"] else ("undecided" if g["met"] is None else "**no**")]
                    for g in s["goals"]]))
    L.append("")

    cap = s["capacity"]
    b = s["baselines"]
    L.append("#### Capacity (rooms of 30: %s)" % meta.get("capacity_shape", ""))
    L.append("")
    L.append(table(["figure", "posts/s", "notes"], [
        ["**pchat capacity** (p99 post→delivery < 100 ms)", "**%s**" % fmt(cap["posts_per_s"]),
         "%s deliveries/s to the other members; %s" % (fmt(cap["deliveries_per_s"]),
                                                       "given with BENCH_CAPACITY, not measured" if cap.get("given")
                                                       else "sustained in two of its runs" if cap["confirmed"]
                                                       else "one run (quick mode)")],
        ["ejabberd 23.01 (peer, research/peer-ejabberd.md)", "240–320",
         "pchat = %s× the peer" % ("–".join("%.1f" % v for v in reversed(cap["vs_peer_ejabberd"])) if cap["vs_peer_ejabberd"] else "—")],
        ["bare sofia-sip UAS, INFO → 200 (SIP stack ceiling)", fmt(b["sip_stack_posts_per_s"]),
         "pchat = %s of it" % ("%.1f %%" % (100 * cap["vs_sip_stack"]) if cap["vs_sip_stack"] else "—")],
        ["PostgreSQL single-row INSERT, 2 clients (pgbench)", fmt(b["pgbench_inserts_per_s"]),
         "pchat = %s of it" % ("%.1f %%" % (100 * cap["vs_pgbench"]) if cap["vs_pgbench"] else "—")],
    ]))
    L.append("")
    rows = []
    for r in by_phase(recs, "capacity"):
        rows.append([fmt(r["post_rate"]), fmt(r["goodput_per_s"]), fmt(r["deliveries_per_s"]),
                     "%s / %s" % (fmt(r["answer_ms"]["p50"], 1), fmt(r["answer_ms"]["p99"], 1)),
                     "%s / %s / %s" % (fmt(r["delivery_ms"]["p50"], 1), fmt(r["delivery_ms"]["p99"], 1),
                                       fmt(r["delivery_ms"]["max"], 1)),
                     fmt(r["posts_503"]), fmt(r["lost"]), cpu_text(r),
                     "yes" if r["pass"] else "no"])
    if rows:
        L.append("Capacity search, in the order run:")
        L.append("")
        L.append(table(["offered /s", "accepted /s", "deliveries /s", "post→200 p50 / p99 ms",
                        "post→delivery p50 / p99 / max ms", "503", "lost", "CPU fe / w / pg / load (all)",
                        "sustained"], rows))
        L.append("")
    rows = []
    for r in by_phase(recs, "uas"):
        rows.append([fmt(r["post_rate"]), fmt(r["goodput_per_s"]),
                     "%s / %s" % (fmt(r["answer_ms"]["p50"], 2), fmt(r["answer_ms"]["p99"], 2)),
                     fmt(r["posts_timeouts"]), cpu_text(r), "yes" if r["pass"] else "no"])
    if rows:
        L.append("SIP stack ceiling search (bare_uas, same loader and shape; CPU columns: "
                 "bare_uas / — / — / pchat-load):")
        L.append("")
        L.append(table(["offered /s", "answered 200 /s", "request→200 p50 / p99 ms", "timeouts",
                        "CPU", "sustained"], rows))
        L.append("")

    if s["overload"]:
        L.append("#### Overload (same shape, retrying clients; capacity = %s posts/s)" % fmt(cap["posts_per_s"]))
        L.append("")
        rows = []
        for o in s["overload"]:
            rows.append([o["knobs"], "%s×" % o["multiple"], fmt(o["offered_per_s"]),
                         "%s (%s %%)" % (fmt(o["goodput_per_s"]),
                                         fmt(100 * o["goodput_vs_capacity"]) if o["goodput_vs_capacity"] is not None else "—"),
                         fmt(o["r503_per_s"]), fmt(o["retry_after_percent"], 1),
                         fmt(o["answer_p99_ms"], 1), fmt(o["delivery_p99_ms"], 1),
                         "%s → %s" % (mb(o["fe_rss_start_kb"]), mb(o["fe_rss_end_kb"])),
                         cpu_text(o)])
        L.append(table(["knobs", "load", "offered /s", "goodput /s (of capacity)", "503 /s",
                        "503 with Retry-After %", "p99 post→200 of accepted ms",
                        "p99 post→delivery ms", "front end RSS", "CPU fe / w / pg / load (all)"], rows))
        L.append("")
        L.append("Tuned knobs: `%s`." % meta.get("tuned_knobs", ""))
        L.append("")

    if s.get("lync"):
        ly = s["lync"]
        L.append("#### Lync pool model on this machine")
        L.append("")
        L.append("Three loaders at once on one front end, two workers: %s sessions; %s posts/s and "
                 "%s re-joins/s offered. Measured: %s posts/s accepted, **%s deliveries/s**, "
                 "p99 post→delivery **between %s and %s ms** (the three loaders' percentiles "
                 "cannot be merged; these are bounds), %s lost, %s posts and %s joins answered "
                 "503. CPU fe / w / pg / load (all): %s." % (
                     fmt(ly["ready"]), fmt(ly["post_rate"], 1), fmt(ly["join_rate"], 1),
                     fmt(ly["goodput_per_s"], 1), fmt(ly["deliveries_per_s"]),
                     fmt(ly["delivery_p99_bounds_ms"][0], 1), fmt(ly["delivery_p99_bounds_ms"][1], 1),
                     fmt(ly["lost"]), fmt(ly["posts_503"]), fmt(ly["joins_503"]), cpu_text(ly)))
        L.append("")
        L.append(table(["rooms", "users", "posts/s offered", "deliveries/s",
                        "post→delivery p50 / p90 / p99 ms", "lost"],
                       [[c["rooms"], fmt(c["users"]), fmt(c["post_rate"], 2), fmt(c["deliveries_per_s"]),
                         "%s / %s / %s" % (fmt(c["delivery_ms"]["p50"], 1), fmt(c["delivery_ms"]["p90"], 1),
                                           fmt(c["delivery_ms"]["p99"], 1)),
                         fmt(c["lost"])] for c in ly["classes"]]))
        L.append("")
    if s.get("scale"):
        sc = s["scale"]
        L.append("#### Sessions on one front end")
        L.append("")
        L.append("%s users signed in on one front end, each in one room of 30: its RSS %s idle, "
                 "%s with them = **%.1f KB per session**. 20,000 sessions, extrapolated from "
                 "that (the last few hundred do not fit under this machine's open-files limit "
                 "of 20,000 per process, which the front end and pchat-load each need one of "
                 "per user): ≈ **%s**." % (
                     fmt(sc["sessions"]), mb(sc["fe_rss_idle_kb"]), mb(sc["fe_rss_kb"]),
                     sc["per_session_kb"], mb(sc["extrapolated_20k_kb"])))
        L.append("")
    if s.get("compliance"):
        c = s["compliance"]
        L.append("#### Compliance (tests/bench/compliance-bench.sh, %s events, same PostgreSQL)" % fmt(c["events"]))
        L.append("")
        L.append(table(["stage", "events/s", "× post capacity"], [
            ["outbox → mgccomp (drain)", fmt(c["drain_per_s"]),
             fmt(c["drain_per_s"] / cap["posts_per_s"], 1) if cap["posts_per_s"] else "—"],
            ["mgccomp → xml adapter", fmt(c["xml_per_s"]),
             fmt(c["xml_per_s"] / cap["posts_per_s"], 1) if cap["posts_per_s"] and c["xml_per_s"] else "—"],
            ["outbox → xml + jsonl, purged (end to end)", fmt(c["end_to_end_per_s"]),
             fmt(c["end_to_end_per_s"] / cap["posts_per_s"], 1) if cap["posts_per_s"] and c["end_to_end_per_s"] else "—"],
        ]))
        L.append("")
    if s.get("incidents"):
        L.append("#### Incidents")
        L.append("")
        for i in s["incidents"]:
            L.append("* during `%s`: **%s died**: `%s` (the bench restarted the pool and went on)" % (
                i["run"], i["process"], i["what"]))
        L.append("")
    L.append("Raw figures: `%s/results.json`; every pchat-load report in `%s/runs/`." % (
        meta.get("out", "build/bench"), meta.get("out", "build/bench")))
    return "\n".join(L)


def plain(md):
    """The markdown, readable on a terminal."""
    return re.sub(r"\*\*", "", md)


def cmd_final(argv):
    if not argv:
        die("usage: final OUT [DOC]")
    out = argv[0]
    recs = load_records(out)
    try:
        with open(os.path.join(out, "meta.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        meta = {}
    s = summarize(recs, meta)
    s["runs"] = recs
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(s, f, indent=1, sort_keys=True)
        f.write("\n")
    md = markdown(recs, s)
    print(plain(md))
    if len(argv) > 1:
        doc = argv[1]
        try:
            with open(doc) as f:
                text = f.read()
        except OSError as e:
            die("cannot read %s: %s" % (doc, e))
        if BEGIN not in text or END not in text or text.index(BEGIN) > text.index(END):
            die("%s has no %s … %s section to replace" % (doc, BEGIN, END))
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        note = "<!-- generated by tests/bench/run-bench.sh (make bench); edits here are overwritten -->"
        with open(doc + ".tmp", "w") as f:
            f.write(head + BEGIN + "\n" + note + "\n\n" + md + "\n\n" + END + tail)
        os.replace(doc + ".tmp", doc)
        print("\nrun-bench: wrote the figures into %s" % doc)


def main():
    if len(sys.argv) < 2:
        die("usage: run|record|final ... (see the header of this file)")
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "run":
        cmd_run(argv)
    elif cmd == "record":
        cmd_record(argv)
    elif cmd == "final":
        cmd_final(argv)
    else:
        die("unknown command '%s'" % cmd)


if __name__ == "__main__":
    main()
