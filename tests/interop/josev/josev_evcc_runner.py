"""Josev's EVCC with a choice of control mode (run with the .venv-josev interpreter).

Josev's simulated EV takes the first parameter set offered; the SECC under test may
offer Scheduled first. This subclass picks the set whose ControlMode matches argv[1]
("1" Scheduled, "2" Dynamic), as the reference says to do.

Its DC pack also reports 20 kV as present and target voltage (above the 1000 V maximum it
announces itself), which a SECC that checks limits rightly refuses in PreCharge
(FAILED_WrongChargeParameter); this EV's pack is at 400 V.
"""

import asyncio
import sys

from iso15118.evcc import Config, EVCCHandler
from iso15118.evcc.controller.simulator import SimEVController
from iso15118.evcc.evcc_config import load_from_file
from iso15118.shared.exificient_exi_codec import ExificientEXICodec
from iso15118.shared.messages.iso15118_20.common_messages import SelectedEnergyService
from iso15118.shared.messages.iso15118_20.common_types import RationalNumber

WANTED = int(sys.argv[1])


class ModeEV(SimEVController):
    async def select_energy_service_v20(self, services):  # type: ignore[no-untyped-def]
        for matched in services:
            for pset in matched.parameter_sets:
                modes = [p.int_value for p in pset.parameters if p.name == "ControlMode"]
                if modes == [WANTED]:
                    return SelectedEnergyService(
                        service=matched.service, is_free=matched.is_free, parameter_set=pset
                    )
        return await super().select_energy_service_v20(services)

    async def get_present_voltage(self):  # type: ignore[no-untyped-def]
        return RationalNumber(exponent=0, value=400)

    async def get_target_voltage(self):  # type: ignore[no-untyped-def]
        return RationalNumber(exponent=0, value=400)


async def main() -> None:
    config = Config()
    config.load_envs()
    evcc_config = await load_from_file(config.ev_config_file_path)
    await EVCCHandler(
        evcc_config=evcc_config, iface=config.iface, exi_codec=ExificientEXICodec(),
        ev_controller=ModeEV(evcc_config),
    ).start()


asyncio.run(main())
