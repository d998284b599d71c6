"""Step 1: the GPUs this machine has (or the one to plan for), and whether the software stack works."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Select, SelectionList, Static

from ftwiz.hardware.gpus import CATALOG, GIB, GpuChoice, local_card
from ftwiz.hardware.probe import Hardware, Probe, probe_hardware
from ftwiz.tui.screens.base import StepScreen
from ftwiz.tui.widgets import Dropdown

DEFAULT_PLAN_GPU = "a100-80gb"
PLAN_COUNTS = (1, 2, 4, 8)


class HardwareScreen(StepScreen):
    step = 0

    class Probed(Message, bubble=False):
        """The probe worker's result: this machine."""

        def __init__(self, hardware: Hardware) -> None:
            super().__init__()
            self.hardware = hardware

    class DoctorChecked(Message, bubble=False):
        """The doctor worker's result: the environment checks."""

        def __init__(self, checks: list[Any]) -> None:
            super().__init__()
            self.checks = checks

    def body(self) -> ComposeResult:
        yield Static("Probing the GPUs…", id="hw-summary")
        yield DataTable(id="hw-table", cursor_type="none", show_cursor=False)
        yield SelectionList[int](id="gpus", compact=True)
        options = [(f"{g.name} ({g.memory_gib:.0f} GiB)", key) for key, g in CATALOG.items()]
        counts = [("1 GPU", 1)] + [(f"{n} GPUs", n) for n in PLAN_COUNTS[1:]]
        with Horizontal(id="plan"):
            yield Dropdown(options, id="plan_gpu", value=DEFAULT_PLAN_GPU, allow_blank=False, compact=True)
            yield Dropdown(counts, id="plan_count", value=1, allow_blank=False, compact=True)
        yield Static("", id="doctor")

    def on_mount(self) -> None:
        self.query_one("#gpus").display = False
        self.query_one("#plan").display = False
        self.query_one("#hw-table").display = False
        if self.state.hardware is not None:
            self._show(self.state.hardware)
        else:
            self._probe(self.state.runs_dir, self.state.probe)
        if self.state.doctor_checks is not None:
            self._show_doctor(self.state.doctor_checks)
        else:
            self.query_one("#doctor", Static).update(Text("Checking the environment…", style="dim"))
            self._doctor(self.state.doctor)

    @work(thread=True, exclusive=True, group="probe")
    def _probe(self, runs_dir: str, probe: Probe | None) -> None:
        self.post_message(self.Probed(probe_hardware(runs_dir, probe)))

    def on_hardware_screen_probed(self, message: Probed) -> None:
        self.state.hardware = message.hardware
        self._show(message.hardware)

    def _show(self, hw: Hardware) -> None:
        summary = self.query_one("#hw-summary", Static)
        ram = f"{hw.host_ram_bytes / GIB:.0f} GiB RAM" if hw.host_ram_bytes else "RAM unknown"
        disk = f"{hw.disk_free_bytes / GIB:.0f} GiB free disk" if hw.disk_free_bytes else ""
        host = f"{hw.cpu_count or '?'} CPUs, {ram}, {disk}".rstrip(", ")
        if not hw.has_gpu:
            summary.update(
                Text.assemble(
                    (f"{hw.no_gpu_reason or 'No NVIDIA GPU'}. ", "yellow"),
                    host,
                    "\nPlan for the card you would rent; training here runs on the CPU.",
                )
            )
            self.query_one("#plan").display = True
            self._plan_for()
            self.focus_first_field()
            return
        driver = f"driver {hw.driver_version}, CUDA {hw.cuda_version}" if hw.driver_version else ""
        summary.update(f"{len(hw.gpus)} GPU(s), {driver}; {host}")
        table = self.query_one("#hw-table", DataTable)
        table.display = True
        table.clear(columns=True)
        table.add_columns("#", "GPU", "free / total", "bf16", "other processes")
        for g in hw.gpus:
            others = ", ".join(f"{p.name or p.pid} {p.used_bytes / GIB:.1f} GiB" for p in g.processes) or "none"
            table.add_row(
                str(g.index),
                g.name,
                f"{g.free_bytes / GIB:.1f} / {g.total_bytes / GIB:.1f} GiB",
                "yes" if g.bf16 else "no (fp16)",
                others,
            )
        self.call_after_refresh(table.refresh, layout=True)  # see ModelScreen._show: a table filled early stays 0 high
        chosen = self.draft.get("hardware.gpus")
        selection = self.query_one("#gpus", SelectionList)
        selection.clear_options()
        selection.add_options(
            [(f"use GPU {g.index}: {g.name}", g.index, chosen is None or g.index in chosen) for g in hw.gpus]
        )
        selection.highlighted = 0  # Space toggles at once, no arrow key needed first
        selection.display = True
        self.focus_first_field()
        self._use_local()

    def _use_local(self) -> None:
        hw = self.state.hardware
        assert hw is not None and hw.has_gpu
        selected = self.query_one("#gpus", SelectionList).selected or [g.index for g in hw.gpus]
        gpus = [g for g in hw.gpus if g.index in selected]
        first = gpus[0]
        self.draft.gpu = GpuChoice(local_card(first.name, first.total_bytes, first.bf16), len(gpus))
        self.draft.usable_bytes = min(g.free_bytes for g in gpus)
        all_gpus = len(selected) == len(hw.gpus)
        self.draft.set("hardware.gpus", None if all_gpus else sorted(selected))
        self.draft.set("distributed.num_processes", len(gpus))  # one process a GPU

    def _plan_for(self) -> None:
        """No GPU here: plan for the card (and how many of them) the user would rent; the config trains on that
        many processes there."""
        key, count = self.query_one("#plan_gpu", Select).value, self.query_one("#plan_count", Select).value
        if key == Select.BLANK or count == Select.BLANK:
            return
        self.draft.gpu = GpuChoice(CATALOG[str(key)], int(count))  # type: ignore[arg-type]
        self.draft.usable_bytes = None
        self.draft.set("distributed.num_processes", int(count))  # type: ignore[arg-type]

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged) -> None:
        if self.state.hardware is not None and self.state.hardware.has_gpu:
            self._use_local()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id in ("plan_gpu", "plan_count"):
            self._plan_for()

    @work(thread=True, exclusive=True, group="doctor")
    def _doctor(self, doctor: Callable[[], list[Any]]) -> None:
        self.post_message(self.DoctorChecked(doctor()))

    def on_hardware_screen_doctor_checked(self, message: DoctorChecked) -> None:
        self.state.doctor_checks = message.checks
        self._show_doctor(message.checks)

    def _show_doctor(self, checks: list[Any]) -> None:
        problems = [c for c in checks if c.status in ("warn", "fail")]
        text = Text("Environment: ", style="bold")
        if not problems:
            text.append(f"{len(checks)} checks, no problems (ftwiz doctor for details)", style="green")
        for c in problems:
            style = "red" if c.status == "fail" else "yellow"
            text.append(f"\n {'✗' if c.status == 'fail' else '!'} {c.name}: {c.detail}", style=style)
            if c.fix:
                text.append(f"\n   fix: {c.fix}", style="dim")
        self.query_one("#doctor", Static).update(text)

    def complete(self) -> str | None:
        if self.draft.gpu is None:
            return "Still probing the hardware."
        hw = self.state.hardware
        if hw is not None and hw.has_gpu and not self.query_one("#gpus", SelectionList).selected:
            return "Select at least one GPU."
        return None
