from hal.devices.backoff import Backoff


def test_backoff_doubles_caps_and_resets() -> None:
    b = Backoff(0.1, 2.0, 0.5)
    assert b.due(0.0)
    delays = []
    for _ in range(5):
        b.failed(10.0)
        delays.append(b.delay_s)
    assert delays == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert not b.due(10.4) and b.due(10.5)
    assert abs(b.retry_in(10.2) - 0.3) < 1e-9
    b.succeeded()
    assert b.due(10.0) and b.failures == 0
