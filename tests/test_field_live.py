"""The field's history in race HQ: sent through the API or `coursewatch race history`, kept
across a restart, ETAs with intervals on the runner page's data, a dropout risk for HQ."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from coursewatch.sim.hq import add_race, admin_headers, hq, stops_as_if_killed
from coursewatch.sim.simulate import simulate_run, trail_course
from coursewatch.sim.splits import simulate_splits, splits_csv

START = 1_780_000_000.0
COURSE = trail_course(20_000.0, n_stations=4)


def _history(server: object, race_id: str) -> list[dict[str, object]]:
    race = server.race(race_id)  # type: ignore[attr-defined]
    names = [p.label for p in race.stations]
    effort = np.array([p.distance_m for p in race.stations]) * 1.2
    tables = [splits_csv(names, simulate_splits(effort, 400, seed=i)) for i in range(2)]
    return [{"edition": str(2020 + i), "text": text} for i, text in enumerate(tables)]


async def _ingest(client: object, run: object, upto_s: float) -> None:
    rows = [(t, a, b) for t, a, b in zip(run.time_s, run.lat, run.lon, strict=True)  # type: ignore[attr-defined]
            if t <= upto_s]  # fmt: skip
    for k in range(0, len(rows), 500):
        fixes = [{"bib": "7", "time": t, "lat": a, "lon": b} for t, a, b in rows[k : k + 500]]
        r = await client.post("/api/races/demo/fixes", json={"fixes": fixes},  # type: ignore[attr-defined]
                              headers=admin_headers())  # fmt: skip
        assert r.status_code == 200, r.text


async def _past_two_stations(server: object, client: object, folder: Path, run: object) -> None:
    """Race demo, runner 7, and their fixes up to 4,200 s: past two stations."""
    await add_race(server, folder, COURSE, "demo", START)  # type: ignore[arg-type]
    r = await client.post("/api/races/demo/runners", json={"bib": "7", "name": "Ann"},  # type: ignore[attr-defined]
                          headers=admin_headers())  # fmt: skip
    assert r.status_code in (200, 201), r.text
    await _ingest(client, run, START + 4200.0)


@pytest.mark.anyio
async def test_history_gives_live_etas_intervals_and_a_dropout_risk(tmp_path: Path) -> None:
    run = simulate_run(COURSE, pace_mps=2.2, interval_s=10.0, start_ts=START + 5)
    now = [START + 4200.0]
    async with hq(tmp_path, clock=lambda: now[0]) as (server, client):
        await _past_two_stations(server, client, tmp_path, run)  # then the history
        unreadable = {"editions": [{"edition": "x", "text": "a,b\n1,2\n"}]}
        bad = await client.put("/api/races/demo/history", headers=admin_headers(), json=unreadable)
        assert bad.status_code == 422 and "no column names a station" in bad.text
        r = await client.put("/api/races/demo/history", headers=admin_headers(),
                             json={"editions": _history(server, "demo")})  # fmt: skip
        assert r.status_code == 200, r.text
        assert [(e["edition"], e["runners"]) for e in r.json()["editions"]] == [
            ("2020", 400), ("2021", 400)]  # fmt: skip
        now[0] += 10.0
        detail = (await client.get("/api/races/demo/runners/7/progress",
                                   headers=admin_headers())).json()  # fmt: skip
        etas = detail["etas"]
        assert etas and all(e["method"].startswith("history") for e in etas), etas
        assert all(e["low_ts"] <= e["eta_ts"] <= e["high_ts"] for e in etas)
        assert [e["eta_ts"] for e in etas] == sorted(e["eta_ts"] for e in etas)
        assert 0.0 <= detail["dropout_risk"] <= 1.0
        runners = (await client.get("/api/races/demo/runners", headers=admin_headers())).json()
        assert runners["runners"][0]["dropout_risk"] == detail["dropout_risk"]
        # the runner goes on past the next station: the ticker forecasts them from there
        at = server.race("demo").field.forecasts["7"].station
        now[0] = START + 8000.0
        await _ingest(client, run, START + 8000.0)
        await server.tick()
        assert server.race("demo").field.forecasts["7"].station > at
        public = (await client.get("/api/races/demo/runners")).status_code
        assert public in (401, 403)  # the risk is race HQ's, not the public's
        got = (await client.get("/api/races/demo/history", headers=admin_headers())).json()
        assert [e["edition"] for e in got["editions"]] == ["2020", "2021"]
    # race HQ restarted: the history is read again and the splits so far filled in
    async with hq(tmp_path, clock=lambda: now[0]) as (server, client):
        detail = (await client.get("/api/races/demo/runners/7/progress",
                                   headers=admin_headers())).json()  # fmt: skip
        assert detail["etas"] and detail["etas"][0]["method"].startswith("history")
        # removed: the live model's ETAs again, and still after the next restart
        r = await client.put("/api/races/demo/history", headers=admin_headers(),
                             json={"editions": []})  # fmt: skip
        assert r.json() == {"editions": []}
    async with hq(tmp_path, clock=lambda: now[0]) as (server, client):
        detail = (await client.get("/api/races/demo/runners/7/progress",
                                   headers=admin_headers())).json()  # fmt: skip
        assert detail["etas"] and {e["method"] for e in detail["etas"]} == {"live"}
        assert "dropout_risk" not in detail


def test_race_history_sends_the_race_files_history_an_edition_a_request(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from coursewatch.cli import main
    from coursewatch.sim.field import write_race
    from coursewatch.sim.hq import ADMIN, free_port, start_serve

    port = free_port()
    proc = start_serve(tmp_path, port, ADMIN, tick_s="0")
    opts = ["--url", f"http://127.0.0.1:{port}", "--token", ADMIN]
    try:
        race_file = write_race(tmp_path / "race", COURSE, START)
        cli = CliRunner()
        assert (
            cli.invoke(main, ["race", "create", str(race_file), "--id", "demo", *opts]).exit_code
            == 0
        )
        names = [line.split("name: ")[1].split(",")[0].strip("'") for line in
                 race_file.read_text().splitlines() if line.startswith("  - {name:")]  # fmt: skip
        effort = np.linspace(4_000.0, 24_000.0, len(names))
        for i in range(2):
            text = splits_csv(names, simulate_splits(effort, 300, seed=i))
            (race_file.parent / f"{2020 + i}.csv").write_text(text)
        race_file.write_text(race_file.read_text() + "history: [2020.csv, 2021.csv]\n")
        done = cli.invoke(main, ["race", "history", "demo", str(race_file), *opts])
        assert done.exit_code == 0, done.output
        assert "2020: 300 runners" in done.output and "2021: 300 runners" in done.output
        # a race created from a race file with a history has it (its live ETAs were the
        # runner's own model until `race history` was run, without a word)
        made = cli.invoke(main, ["race", "create", str(race_file), "--id", "again", *opts])
        assert made.exit_code == 0, made.output
        assert "2020: 300 runners" in made.output and "2021: 300 runners" in made.output
        got = httpx.get(f"http://127.0.0.1:{port}/api/races/again/history",
                        headers={"Authorization": f"Bearer {ADMIN}"}).json()  # fmt: skip
        assert [e["edition"] for e in got["editions"]] == ["2020", "2021"], got
        # a table that cannot be read stops race create before race HQ is changed
        race_file.write_text(race_file.read_text().replace("2021.csv", "2022.csv"))
        made = cli.invoke(main, ["race", "create", str(race_file), "--id", "third", *opts])
        assert made.exit_code != 0 and "2022.csv: cannot read" in made.output, made.output
        assert httpx.get(f"http://127.0.0.1:{port}/api/races/third").status_code == 404
        # --replace with a race file that lists no history: what race HQ keeps is said
        race_file.write_text(race_file.read_text().replace("history: [2020.csv, 2022.csv]\n", ""))
        made = cli.invoke(main, ["race", "create", str(race_file), "--id", "again", "--replace",
                                 *opts])  # fmt: skip
        assert made.exit_code == 0, made.output
        assert "race HQ keeps the history it had (2020, 2021)" in made.output, made.output
        # a history sent by mistake can be taken away (there was no command for it)
        gone = cli.invoke(main, ["race", "history", "again", "--clear", *opts])
        assert gone.exit_code == 0 and "removed (2020, 2021)" in gone.output, gone.output
        got = httpx.get(f"http://127.0.0.1:{port}/api/races/again/history",
                        headers={"Authorization": f"Bearer {ADMIN}"}).json()  # fmt: skip
        assert got["editions"] == [], got
        both = cli.invoke(main, ["race", "history", "again", str(race_file), "--clear", *opts])
        assert both.exit_code == 2 and "or --clear" in both.output, both.output
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.anyio
async def test_a_history_sent_after_a_kill_finds_the_splits_from_before_it(
    tmp_path: Path,
) -> None:
    """Race HQ is killed after the runner passed two stations, and keeps only the last fix in
    memory after the restart: the splits are in the runner's stored state, so a history sent
    then forecasts them from the station they last passed."""
    run = simulate_run(COURSE, pace_mps=2.2, interval_s=10.0, start_ts=START + 5)
    now = [START + 4200.0]
    with stops_as_if_killed():  # as kill -9: nothing stored on the way out
        async with hq(tmp_path, clock=lambda: now[0]) as (server, client):
            await _past_two_stations(server, client, tmp_path, run)
            before = server.race("demo").passes.splits["7"].copy()
            assert np.isfinite(before[:2]).all()
    async with hq(tmp_path, clock=lambda: now[0]) as (server, client):
        assert server.resumed["demo"].resumed == 1
        assert server.runner("demo", "7").progress_series()[0].size < 10
        np.testing.assert_array_equal(server.race("demo").passes.splits["7"], before)
        r = await client.put("/api/races/demo/history", headers=admin_headers(),
                             json={"editions": _history(server, "demo")})  # fmt: skip
        assert r.status_code == 200, r.text
        assert server.race("demo").field.forecasts["7"].station == 1


@pytest.mark.anyio
async def test_one_stored_edition_that_no_longer_reads_leaves_the_others(
    tmp_path: Path,
) -> None:
    """A history stored before a stricter reader (an edition with a quote never closed, now
    refused whole): at the restart the whole history was dropped, every edition with it."""
    import json

    from coursewatch.live.fieldwatch import meta_key

    run = simulate_run(COURSE, pace_mps=2.2, interval_s=10.0, start_ts=START + 5)
    async with hq(tmp_path, clock=lambda: START + 4200.0) as (server, client):
        await _past_two_stations(server, client, tmp_path, run)
        good = _history(server, "demo")[0]
        broken = {"edition": "1999", "text": good["text"].replace("\n1,", '\n1,"', 1)}
        await server._store.set_meta(meta_key("demo"), json.dumps([good, broken]))
    async with hq(tmp_path, clock=lambda: START + 4210.0) as (server, client):
        got = (await client.get("/api/races/demo/history", headers=admin_headers())).json()
        assert [e["edition"] for e in got["editions"]] == ["2020"]


def test_the_finish_and_the_legs_past_a_new_station_keep_the_historys_eta() -> None:
    """UTMB's race file puts the finish at km 170.0, its course ends at 170.05: the runner
    page's finish ETA, asked at the course's end, was the live model's, hours off the
    history's on the same page. And each station passed dropped every ETA to the live model
    (no interval) until the next forecast: a 3-hour jump for the crew, then back."""
    from coursewatch.fieldeta import Forecast
    from coursewatch.live.fieldwatch import FieldWatch
    from coursewatch.live.passes import Passes

    station_m = [10_000.0, 20_000.0, 30_000.0]  # the last: the finish, 50 m short of the end
    passes = Passes(station_m)
    watch = FieldWatch(None, passes, [])  # type: ignore[arg-type]
    passes.splits["7"] = np.array([3600.0, np.nan, np.nan])
    f = Forecast(0, {1: (7200.0, 6600.0, 8400.0), 2: (10_800.0, 9600.0, 13_200.0)},
                 {1: "history", 2: "history"})  # fmt: skip
    watch.forecasts["7"] = f
    passes.last["7"] = (3600.0, 10_000.0)  # at the first station, on the forecast's time
    ends = [30_050.0, 30_000.0]
    at_end, at_finish = watch.ranges("7", 0.0, ends, [None, None])
    assert at_end == at_finish and at_end is not None and at_end.eta_ts == 10_800.0
    # past the second station 10 min late, before the next forecast: its legs from there on
    passes.last["7"] = (7800.0, 20_010.0)
    (finish,) = watch.ranges("7", 0.0, [30_050.0], [None])
    assert finish is not None and finish.method == "history"
    assert finish.eta_ts == pytest.approx(7800.0 + 3600.0, abs=10.0)
    assert finish.low_ts < finish.eta_ts < finish.high_ts


def test_a_station_a_ride_skipped_stays_unpassed_across_runs_and_a_restart() -> None:
    """What a runner passed off the course waits until they are back on it; the shortcut
    said in one run (and kept in the stored state) still holds when a later run lets it go."""
    from coursewatch.live.passes import Passes

    passes = Passes([4_000.0, 8_000.0, 12_000.0])
    assert passes.on_run("7", 0.0, [100.0, 200.0], [1_000.0, 2_500.0], [False, False]) == []
    # in a car past the first station, the shortcut said while still off the line
    assert passes.on_run("7", 0.0, [900.0], [5_600.0], [True], [(2_500.0, 5_500.0)]) == []
    later = Passes(passes.station_m)
    later.restore("7", passes.state("7"))  # a restart in between
    assert later.on_run("7", 0.0, [1_000.0], [5_900.0], [False]) == []  # back: not passed
    assert np.isnan(later.splits["7"][0])
    (got,) = later.on_run("7", 0.0, [1_800.0], [8_100.0], [False])  # run to the next: passed
    assert got[1] == 1


@pytest.mark.anyio
async def test_before_the_first_station_the_rest_is_what_the_history_says_of_that_pace() -> None:
    """A runner short of the first station had only the live model's ETAs (its pace so far
    carried on: UTMB 2021's crew read 20 % off for the first two hours, 6-7 % after). Now the
    first arrival is the history's and the live model's, weighted by the share of the leg run,
    and later stations what earlier runners who got there then ran, with an interval; once
    there, the same till the next batch forecasts them (the live model's, 29 % off, before)."""
    from coursewatch.fieldeta import Edition, FieldModel
    from coursewatch.live.fieldwatch import FieldWatch
    from coursewatch.live.passes import Passes
    from coursewatch.sim.splits import simulate_splits

    effort_m = np.array([8_000.0, 15_000.0, 24_000.0, 33_000.0, 41_000.0, 50_000.0])
    model = FieldModel(effort_m, [Edition("past", simulate_splits(effort_m, 2000, seed=1))])
    passes = Passes(list(effort_m))
    watch = FieldWatch(model, passes, [])
    await watch.refresh(0.0, every=True)  # (no runner yet: the ladder is made)
    truth = simulate_splits(effort_m, 400, seed=2, dnf_share=0.0, missed_share=0.0)
    err, inside, early_inside, pace_err = [], [], [], []
    for r, row in enumerate(truth):
        bib, e0 = str(r), float(row[0])
        passes.last[bib] = (0.9 * e0, 0.9 * effort_m[0])  # 90 % of the first leg run
        got = watch.ranges(bib, 0.0, list(effort_m), [e0 * 1.02, *[None] * 5])
        assert all(g is not None for g in got)
        first, finish = got[0], got[-1]
        assert first is not None and finish is not None
        assert abs(first.eta_ts - e0) < 0.03 * e0  # (mostly the live model's, this near)
        togo = row[-1] - 0.9 * e0
        err.append(abs(finish.eta_ts - row[-1]) / togo)
        inside.append(finish.low_ts <= row[-1] <= finish.high_ts)
        pace_err.append(abs(e0 * effort_m[-1] / effort_m[0] - row[-1]) / togo)  # pace kept
        passes.splits[bib] = np.where(np.arange(len(row)) == 0, row, np.nan)  # just passed it
        passes.last[bib] = (e0 + 60.0, effort_m[0] + 100.0)  # (before the next batch)
        (passed,) = watch.ranges(bib, 0.0, [effort_m[-1]], [None])
        assert passed is not None and passed.method == "history"
        assert abs(passed.eta_ts - finish.eta_ts) < 0.05 * togo
        del passes.splits[bib]
        passes.last[bib] = (0.05 * e0, 0.0)  # at the start: the field's times, wide
        (early,) = watch.ranges(bib, 0.0, [effort_m[-1]], [None])
        assert early is not None
        early_inside.append(early.low_ts <= row[-1] <= early.high_ts)
    # as good as the history's forecast from the first station with its time known (the
    # rungs read between), and better than the pace so far carried on (no fatigue)
    snap = np.where(np.arange(len(effort_m)) == 0, truth, np.nan)
    direct = [abs(f.elapsed_s[5][0] - row[-1]) / (row[-1] - 0.9 * row[0])
              for f, row in zip(model.predict(snap), truth, strict=True)]  # fmt: skip
    assert float(np.median(err)) < float(np.median(direct)) + 0.005, (err, direct)
    assert float(np.median(err)) < 0.8 * float(np.median(pace_err)), (err, pace_err)
    assert 0.7 <= float(np.mean(inside)) <= 0.95, np.mean(inside)
    assert 0.7 <= float(np.mean(early_inside)) <= 0.95, np.mean(early_inside)


@pytest.mark.anyio
async def test_the_first_legs_ladder_after_a_forecast_from_the_start_and_a_short_history() -> None:
    """A runner forecast from the start (the history sent, a restart) who then passes the
    first station is read off the ladder at their own time there, not the field's median
    there; and a history that timed only the first stations leaves the rest to the live
    model (an IndexError stopped every detector's tick)."""
    from coursewatch.fieldeta import Edition, FieldModel
    from coursewatch.live.fieldwatch import FieldWatch
    from coursewatch.live.passes import Passes
    from coursewatch.sim.splits import simulate_splits

    effort_m = np.array([8_000.0, 15_000.0, 24_000.0, 33_000.0])
    past = simulate_splits(effort_m, 1000, seed=3)
    for table, timed in ((past, 4), (np.where(np.arange(4) < 2, past, np.nan), 2)):
        passes = Passes(list(effort_m))
        watch = FieldWatch(FieldModel(effort_m, [Edition("past", table)]), passes, [])
        passes.on_run("7", 0.0, [60.0], [100.0], [False])  # at the start
        await watch.refresh(0.0, every=True)
        assert watch.forecast("7") is not None and watch.forecast("7").station == -1
        got = watch.ranges("7", 0.0, list(effort_m), [None] * 4)
        assert [g is not None for g in got] == [j < timed for j in range(4)], got
        fast = float(np.nanquantile(past[:, 0], 0.1))  # a fast runner, at the first station
        passes.splits["7"][0] = fast
        passes.last["7"] = (fast + 30.0, effort_m[0] + 50.0)
        (nxt,) = watch.ranges("7", 0.0, [effort_m[1]], [None])
        assert nxt is not None and watch.first is not None
        ladder = watch.first.forecast(fast).elapsed_s[1][0]
        assert nxt.eta_ts == pytest.approx(ladder, rel=0.05), (nxt.eta_ts, ladder)
        if timed < 4:
            continue
        # past the second station too before a batch forecast them (a batch every 15 s of
        # the server's clock; the UTMB replay at 600x: only the live model's ETAs, 27 % off)
        second = ladder * 1.05
        passes.splits["7"][1] = second
        passes.last["7"] = (second + 30.0, effort_m[1] + 50.0)
        legs = watch.first.forecast(fast).elapsed_s[3][0] - ladder
        for forecast in (watch.forecasts.pop("7"), None):  # from the start; none at all
            if forecast is not None:
                watch.forecasts["7"] = forecast
            (then,) = watch.ranges("7", 0.0, [effort_m[3]], [None])
            assert then is not None and then.method == "history", then
            assert then.eta_ts == pytest.approx(second + legs, rel=0.05), (then, second + legs)
            watch.forecasts.pop("7", None)
