"""``edge``: run, check, probe, analyze, patrol; init, schema (the commands the README
documents)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
from aiomqtt import MqttError

from alerts.event import AlertEvent
from alerts.event import json_schema as alert_json_schema
from alerts.publisher import check_broker, explain
from common.config import ConfigError
from edge.analysis import Analysis
from edge.config import (
    CameraConfig,
    EdgeConfig,
    json_schema,
    load_config,
    unencoded_password,
)
from edge.inference import InferenceWorker, build_detector, session_count
from edge.logs import setup_logging
from edge.patrol import Patrol, summary
from edge.patrol_store import PatrolStore
from edge.pipeline import CameraPipeline, camera_settings, source_options
from edge.report import Row, write_report
from edge.starter import starter
from edge.supervisor import Supervisor, mqtt_settings
from edge.zones_image import draw_zones
from ingest import (
    SourceError,
    SourceOptions,
    open_source,
    probe,
    redact,
    sampled_frames,
    url_password,
)
from models.detector import Detector
from models.types import Detections, Request

EXIT_OK, EXIT_INVALID, EXIT_UNREACHABLE = 0, 2, 3

log = logging.getLogger("edge")


def _load(path: str) -> EdgeConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        _say(exc)
        return None


def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_INVALID
    handler = setup_logging(args.log_level, config.secrets(),
                            json_lines=args.log_format == "json")
    # A stop asked for while the service starts (the model loads, the loop is not running
    # yet) is kept, not a death by the default SIGTERM with alerts left open: the
    # supervisor's own handlers take over once it runs, and it stops at once.
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        supervisor = Supervisor(config, Path(args.config), handler)
    except ConfigError as exc:  # the detector's model, labels or provider
        _say(exc)
        return EXIT_INVALID
    except (OSError, sqlite3.Error) as exc:  # data_dir unwritable: one line
        log.error("cannot start: %s", exc)
        return 1
    try:
        log.info("node %s: starting %d camera(s)", config.node.id,
                 sum(c.enabled for c in config.cameras.values()))
        asyncio.run(supervisor.run(stop))
    except (OSError, sqlite3.Error) as exc:  # data_dir unwritable, port taken: one line
        log.error("cannot start: %s", exc)
        return 1
    return EXIT_OK


def _probe_line(name: str, options: SourceOptions) -> tuple[bool, str]:
    try:
        r = probe(options)
    except SourceError as exc:
        return False, f"camera {name}: {exc}"
    fps = f"{r.fps:g} fps" if r.fps else "fps unknown"
    gop = f", keyframe every {r.keyframe_interval_s:g} s" if r.keyframe_interval_s else ""
    line = (f"camera {name}: ok, {r.codec} {r.width}x{r.height}, {fps}{gop}, "
            f"first frame in {r.first_frame_s:.2f} s")
    pixels = r.width * r.height
    if pixels > 1280 * 720:  # analysis looks at ~320x180: more pixels only cost decoding
        line += (f"; its sub-stream (e.g. 640x360) would decode ~{pixels / (640 * 360):.0f}x "
                 "cheaper and analyse as well")
    return True, line


def cmd_check(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_INVALID
    setup_logging("CRITICAL", config.secrets())
    try:
        detector = _detector(config)
    except ConfigError as exc:
        _say(exc)
        return EXIT_INVALID
    patrol = f", {len(config.patrol.entries())} patrol camera(s)" if config.patrol else ""
    print(f"config ok: node {config.node.id}, {len(config.cameras)} camera(s){patrol}")
    if detector is not None:
        sessions = session_count(config.detector)
        print(f"detector ok: {detector.size} px input, {len(detector.labels)} labels, "
              f"{detector.provider}, {sessions} session(s) x {config.detector.threads} "
              "thread(s)")
    if not args.probe:
        return EXIT_OK
    cams = {n: c for n, c in config.cameras.items() if c.enabled}
    with ThreadPoolExecutor(max_workers=min(8, len(cams) or 1)) as pool:
        results = list(pool.map(
            lambda item: _probe_line(item[0], source_options(item[1])),
            cams.items()))
    if config.alerts is not None and config.alerts.mqtt is not None:
        results.append(_broker_line(config))
    for _, line in results:
        print(redact(line, config.secrets()))
    return EXIT_OK if all(ok for ok, _ in results) else EXIT_UNREACHABLE


def _detector(config: EdgeConfig, camera: str | None = None) -> Detector | None:
    """The node's detector if any camera (or ``camera``) detects; ConfigError if unusable."""
    cams = [config.cameras[camera]] if camera else config.cameras.values()
    if not any(c.detect.enabled for c in cams):
        return None
    return build_detector(config.detector)


def _safe(detector: Detector) -> Callable[[Request], Detections | None]:
    """A failed model run is logged and skipped; the analysis goes on (as in ``edge run``)."""
    def detect(request: Request) -> Detections | None:
        try:
            return detector.detect_many([request])[0]
        except Exception:
            log.exception("inference failed; this frame goes on without detections")
            return None
    return detect


def _say(exc: ConfigError) -> None:
    for problem in exc.problems:
        print(f"invalid config: {redact(problem)}", file=sys.stderr)


def _broker_line(config: EdgeConfig) -> tuple[bool, str]:
    assert config.alerts is not None and config.alerts.mqtt is not None
    url = config.alerts.mqtt.url
    try:
        asyncio.run(check_broker(mqtt_settings(config.alerts.mqtt, config.node.id)))
    except MqttError as exc:
        return False, f"broker {url}: {explain(exc)}"
    except OSError as exc:
        return False, f"broker {url}: {exc}"
    return True, f"broker {url}: ok"


def cmd_probe(args: argparse.Namespace) -> int:
    secret = url_password(args.url)
    setup_logging("CRITICAL", [secret] if secret else [])
    if problem := unencoded_password(args.url):  # libav would fail with "Invalid argument"
        print(f"edge probe: {redact(args.url)}: {problem}", file=sys.stderr)
        return EXIT_INVALID
    try:
        result = probe(SourceOptions(args.url, transport=args.transport,
                                     open_timeout_s=args.timeout, read_timeout_s=args.timeout))
    except SourceError as exc:
        print(f"edge probe: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    print(json.dumps(result.as_dict()))
    return EXIT_OK


def cmd_analyze(args: argparse.Namespace) -> int:
    """The whole analysis over a file (flat out) or a stream; alerts as JSON Lines."""
    config = _load(args.config)
    if config is None:
        return EXIT_INVALID
    setup_logging("WARNING", config.secrets() | {url_password(args.source) or ""})
    names = list(config.cameras)
    name = args.camera or (names[0] if len(names) == 1 else None)
    if name not in config.cameras:
        print(f"edge analyze: choose a camera with --camera ({', '.join(names)})",
              file=sys.stderr)
        return EXIT_INVALID
    cfg = config.cameras[name].model_copy(update={"url": args.source})
    try:
        detector = _detector(config, name)
    except ConfigError as exc:
        _say(exc)
        return EXIT_INVALID
    if args.source.startswith(("rtsp://", "rtsps://")):
        return _follow(config, name, cfg, detector, args)
    detect = None if detector is None else _safe(detector)
    analysis = Analysis(config.node.id, name, cfg, config.alerts, config.detector)
    settings = camera_settings(name, cfg, live=False)
    out = sys.stdout if args.out in (None, "-") else open(args.out, "w")  # noqa: SIM115
    progress = Progress(_media_seconds(args.source, args.duration)) if (
        sys.stderr.isatty()) else None
    rows: list[Row] = []
    events: list[AlertEvent] = []
    t = 0.0
    try:
        for frame in sampled_frames(settings.source, cfg.analyze_fps):
            t = frame.media_time
            if args.duration is not None and t > args.duration:
                break
            found = analysis.step(frame, detect)
            for event in found:
                out.write(event.to_json() + "\n")
            if args.report:
                rows.append(Row(t, analysis.stats().motion_fraction, analysis.last_sample))
                events += found
            if progress is not None:
                progress.show(t, sum(analysis.stats().alerts.values()))
        for event in analysis.finish(t):
            out.write(event.to_json() + "\n")
    except SourceError as exc:
        print(f"edge analyze: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    finally:
        if out is not sys.stdout:
            out.close()
        if progress is not None:
            progress.done()
    if args.report:
        write_report(Path(args.report), args.source, name, rows, events,
                     analysis.thresholds)
    return EXIT_OK


def _follow(config: EdgeConfig, name: str, cfg: CameraConfig, detector: Detector | None,
            args: argparse.Namespace) -> int:
    """A live stream, followed as ``edge run`` follows a camera (reconnecting, raising and
    ending camera_offline by the same rule) until ``--duration`` seconds or SIGINT."""
    out = sys.stdout if args.out in (None, "-") else open(args.out, "w")  # noqa: SIM115

    def write(events: list[AlertEvent]) -> None:
        for event in events:
            out.write(event.to_json() + "\n")
        out.flush()

    worker = None if detector is None else InferenceWorker(detector,
                                                           config.detector.max_wait_s)
    pipeline = CameraPipeline.build(config.node.id, name, cfg, alerts=config.alerts,
                                    detector=config.detector, worker=worker)
    pipeline.sink = write

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        running = asyncio.create_task(pipeline.run())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([running, stopping], timeout=args.duration,
                           return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        running.cancel()  # the pipeline ends its open alerts on the way out
        await asyncio.gather(running, return_exceptions=True)

    try:
        asyncio.run(main())
    finally:
        if worker is not None:
            worker.stop()
        if out is not sys.stdout:
            out.close()
    return EXIT_OK


def _media_seconds(source: str, limit: float | None) -> float | None:
    """A file's length in seconds (for the progress bar); None for a stream."""
    if "://" in source:
        return limit
    try:
        with av.open(source) as c:
            total = c.duration / 1e6 if c.duration else None
    except av.FFmpegError:
        return limit
    return min(total, limit) if total and limit else total or limit


class Progress:
    """A one-line progress bar on stderr (a terminal only), redrawn at most 5 times a second."""

    def __init__(self, total_s: float | None) -> None:
        self.total_s, self.started, self.last = total_s, time.monotonic(), 0.0

    def show(self, t: float, alerts: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.2:
            return
        self.last = now
        speed = t / max(now - self.started, 1e-6)
        if self.total_s:
            done = min(1.0, t / self.total_s)
            bar = "#" * int(done * 30) + "." * (30 - int(done * 30))
            text = f"[{bar}] {t:6.1f}/{self.total_s:.1f} s"
        else:
            text = f"{t:6.1f} s"
        sys.stderr.write(f"\r{text}  {speed:4.1f}x real time  {alerts} alert(s) ")
        sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\n")


def cmd_zones(args: argparse.Namespace) -> int:
    """Draws a camera's zones, lines and masks over one live frame: what the installer
    configured, where the camera sees it."""
    config = _load(args.config)
    if config is None:
        return EXIT_INVALID
    setup_logging("CRITICAL", config.secrets())
    if args.camera not in config.cameras:
        print(f"edge zones: no camera {args.camera} ({', '.join(config.cameras)})",
              file=sys.stderr)
        return EXIT_INVALID
    cfg = config.cameras[args.camera]
    try:
        with open_source(source_options(cfg)) as source:
            source.open()
            video = next(iter(source.frames()), None)
    except SourceError as exc:
        print(f"edge zones: {redact(str(exc), config.secrets())}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if video is None:
        print(f"edge zones: {args.camera} gave no frame", file=sys.stderr)
        return EXIT_UNREACHABLE
    Path(args.out).write_bytes(draw_zones(video.to_ndarray(format="bgr24"), cfg))
    print(f"wrote {args.out}: {video.width}x{video.height}, {len(cfg.zones)} zone(s), "
          f"{len(cfg.lines)} line(s), {len(cfg.motion.masks)} motion mask(s), "
          f"{len(cfg.privacy_masks)} privacy mask(s)")
    return EXIT_OK


def cmd_patrol(args: argparse.Namespace) -> int:
    """Checks every camera of the patrol section once; results as JSON Lines."""
    config = _load(args.config)
    if config is None:
        return EXIT_INVALID
    if config.patrol is None:
        print("invalid config: patrol: required key is missing (edge patrol checks the "
              "patrol section's cameras)", file=sys.stderr)
        return EXIT_INVALID
    if not args.once:
        print("edge patrol: give --once (the rotation, round after round, runs inside "
              "`edge run`)", file=sys.stderr)
        return EXIT_INVALID
    setup_logging(args.log_level, config.secrets())
    try:
        store = PatrolStore(Path(config.data_dir) / "patrol.sqlite")
    except (OSError, sqlite3.Error) as exc:
        log.error("cannot start: %s", exc)
        return 1
    out = sys.stdout if args.out in (None, "-") else open(args.out, "w")  # noqa: SIM115

    def write(result: dict[str, object]) -> None:
        out.write(json.dumps(result) + "\n")
        out.flush()  # a reader follows the round as it goes

    try:
        stats = asyncio.run(Patrol(config.node.id, config.patrol, store).round(write))
    finally:
        store.close()
        if out is not sys.stdout:
            out.close()
    log.info("%s", summary(stats))
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    """Writes a commented starter config; never over an existing file."""
    out = Path(args.out)
    if out.exists():
        print(f"edge init: {out} exists; not overwritten", file=sys.stderr)
        return 1
    out.write_text(starter(str(out), args.node), encoding="utf-8")
    print(f"wrote {out}: set GATE_PASS, MQTT_PASS and EDGE_API_TOKEN, edit the cameras, then "
          f"`edge check --config {out} --probe`")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    if args.alert:
        sys.stdout.write(json.dumps(alert_json_schema(), indent=2) + "\n")
    else:
        sys.stdout.write(json_schema())
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge", description="Edge video analytics service")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the service until SIGTERM/SIGINT; SIGHUP reloads")
    run.add_argument("--config", required=True)
    run.add_argument("--log-level", default="INFO",
                     choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.add_argument("--log-format", default="text", choices=["text", "json"],
                     help="json: one object a line (ts, level, logger, message, exception)")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate a config (exit 0 ok, 2 invalid, 3 unreachable)")
    check.add_argument("--config", required=True)
    check.add_argument("--probe", action="store_true",
                       help="also connect to every camera and the broker")
    check.set_defaults(func=cmd_check)

    pr = sub.add_parser("probe", help="connect to one stream and print what it is, as JSON")
    pr.add_argument("url")
    pr.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    pr.add_argument("--transport", choices=["tcp", "udp"], default="tcp")
    pr.set_defaults(func=cmd_probe)

    an = sub.add_parser("analyze", help="run the analysis over a file or stream; alerts as "
                        "JSON Lines")
    an.add_argument("source", help="a video file or rtsp:// URL")
    an.add_argument("--config", required=True)
    an.add_argument("--camera", help="the camera whose zones, lines and masks apply")
    an.add_argument("--out", help="file for the alert events (default: stdout)")
    an.add_argument("--duration", type=float, help="stop after this many seconds of media "
                    "(a file), or of following the stream through outages (rtsp://)")
    an.add_argument("--report", help="also write an HTML timeline here, for tuning "
                    "thresholds: motion and each quality fault type's measurement against "
                    "its thresholds, and the alerts")
    an.set_defaults(func=cmd_analyze)

    zones = sub.add_parser("zones", help="draw a camera's zones, lines and masks over a "
                           "live frame, as PNG")
    zones.add_argument("camera")
    zones.add_argument("--config", required=True)
    zones.add_argument("--out", default="zones.png")
    zones.set_defaults(func=cmd_zones)

    pa = sub.add_parser("patrol", help="check every camera of the patrol section (connect, "
                        "keyframes, video-quality checks); results as JSON Lines")
    pa.add_argument("--config", required=True)
    pa.add_argument("--once", action="store_true", help="one round, then exit")
    pa.add_argument("--out", help="file for the results (default: stdout)")
    pa.add_argument("--log-level", default="INFO",
                    choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    pa.set_defaults(func=cmd_patrol)

    init = sub.add_parser("init", help="write a commented starter config")
    init.add_argument("--out", default="edge.yaml")
    init.add_argument("--node", default="edge-01", help="this box's id")
    init.set_defaults(func=cmd_init)

    schema = sub.add_parser("schema", help="print the config's JSON Schema")
    schema.add_argument("--alert", action="store_true",
                        help="the alert event's schema (edge.alert/1) instead")
    schema.set_defaults(func=cmd_schema)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one redacted line, never a traceback that may hold a URL
        secret = url_password(getattr(args, "url", "") or "")
        print(f"edge {args.command}: {redact(f'{type(exc).__name__}: {exc}', [secret or ''])}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
