"""Interop, R04: the `ocpp` package's ChargePoint used as a CSMS (its own schemas check
every frame both ways) drives our station's DER controls over a real WebSocket:
SetDERControl through its snake_case call side, GetDERControl, and the station's
ReportDERControl (TC_R_103 validations, R04.FR.30-32). Where the package's
camelCase conversion breaks a field name (`fixed_pf_inject` becomes `fixedPfInject`,
a known 2.1.0 defect), the CSMS sends the frame raw and still checks our answer
against the package's schema."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from ocpp.messages import validate_payload
from ocpp.routing import on
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp_support import StationSide, config, eventually
from package_csms import BootedCsms
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from evse.ocpp.station import OcppStation
from tests.conftest import WAIT_S

Payload = dict[str, Any]


class Csms(BootedCsms):  # type: ignore[misc]
    reports: list[Payload]

    @on("ReportDERControl")
    def report(self, **kw: Any) -> Any:
        self.reports.append(kw)  # the package validated the frame against its schema
        return result21.ReportDERControl()

    async def raw_call(self, action: str, payload: Payload) -> Payload:
        """A CALL written by hand, for fields the package cannot spell; the answer is
        checked against the package's schema like any other."""
        uid = str(uuid.uuid4())
        async with self._call_lock:
            await self._send(json.dumps([2, uid, action, payload]))
            response = await self._get_specific_response(uid, WAIT_S)
        response.action = action
        await validate_payload(response, self._ocpp_version)
        result: Payload = response.payload
        return result


def snake_trip(cid: str, points: list[tuple[float, float]]) -> Any:
    # x: clearing time (s), y: frequency (Hz), as hal executes trip curves.
    curve = {
        "priority": 1,
        "y_unit": "Not_Applicable",
        "curve_data": [{"x": x, "y": y} for x, y in points],
    }
    return call21.SetDERControl(
        control_id=cid, control_type="HFMustTrip", is_default=True, curve=curve
    )


def test_r04_tc_r_103_set_get_report_der_control_with_the_ocpp_package_csms(
    tmp_path: Path,
) -> None:
    points: list[Csms] = []

    async def handler(conn: ServerConnection) -> None:
        cp = Csms("CS001", conn)
        cp.reports = []
        points.append(cp)
        await cp.start()

    async def scenario() -> None:
        proto = [Subprotocol("ocpp2.1")]
        async with serve(handler, "127.0.0.1", 0, subprotocols=proto) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            station = OcppStation(config(port), tmp_path / "evse.db", StationSide())
            task = asyncio.create_task(station.run())
            try:
                await asyncio.wait_for(station.connected.wait(), WAIT_S)
                cp = points[0]
                res = await cp.call(snake_trip("hf", [(0.1, 51.0), (0.2, 50.5)]))
                assert res.status == "Accepted"
                # TC_R_103: a curve hal cannot execute (time and Hz swapped) is Rejected
                # with the rule named, the same words hal would log.
                res = await cp.call(snake_trip("bad", [(50.5, 0.2)]))
                assert res.status == "Rejected"
                assert res.status_info["reason_code"] == "ValueOutOfRange"
                assert "outside 50.0..60.0 Hz" in res.status_info["additional_info"]
                # The package spells fixed_pf_inject as "fixedPfInject": sent raw.
                pf = {
                    "controlId": "pf",
                    "controlType": "FixedPFInject",
                    "isDefault": True,
                    "fixedPFInject": {"priority": 2, "displacement": 0.95, "excitation": True},
                }
                assert (await cp.raw_call("SetDERControl", pf)) == {"status": "Accepted"}
                bad_pf = {
                    **pf,
                    "controlId": "pf2",
                    "fixedPFInject": {**pf["fixedPFInject"], "displacement": 0.0},
                }
                res = await cp.raw_call("SetDERControl", bad_pf)
                assert res["status"] == "Rejected" and "displacement" in str(res["statusInfo"])
                res = await cp.call(call21.GetDERControl(request_id=7, control_id="nope"))
                assert res.status == "NotFound"  # R04.FR.30
                res = await cp.call(call21.GetDERControl(request_id=8))
                assert res.status == "Accepted"
                await eventually(lambda: len(cp.reports) == 1)
                (report,) = cp.reports
                assert report["request_id"] == 8 and not report.get("tbc")
                assert [c["id"] for c in report["curve"]] == ["hf"]
                assert report["curve"][0]["curve_type"] == "HFMustTrip"
                assert [c["id"] for c in report["fixed_pf_inject"]] == ["pf"]
                assert report["fixed_pf_inject"][0]["fixed_pf"]["displacement"] == 0.95
                await eventually(lambda: len(station.queue) == 0)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
