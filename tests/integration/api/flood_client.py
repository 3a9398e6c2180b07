"""A separate process that floods the station with commands (run as a script by the
flood test and the benchmark): argv port, count. Every third message is garbage, the
rest are valid setpoints of changing power; QoS 0, as fast as the socket takes them."""

from __future__ import annotations

import json
import sys
import time

import paho.mqtt.client as mqtt


def main(port: int, count: int) -> int:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="flood")
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    for i in range(count):
        if i % 3 == 2:
            payload = b'{"w": oops' if i % 2 else b'{"w": 1, "expires_in_s": 5, "zz": 1}'
        else:
            payload = json.dumps({"id": f"f{i}", "w": 1000 + (i % 40) * 100,
                                  "expires_in_s": 60}).encode()
        c.publish("test/evse/evse/1/set/setpoint", payload, qos=0)
    deadline = time.monotonic() + 60
    while c.want_write() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    c.loop_stop()
    c.disconnect()
    print(count, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2])))
