"""A Ray trial's pushes reach the hub (an async actor) in no guaranteed order; the driver puts
them back in the order they were sent. Without it a trial's final checkpoint, overtaken by its
"end", was dropped: the run directory said done at epoch 15,000 with a checkpoint of 13,747."""

from __future__ import annotations

from nntui.engine.raysweep.trials import InOrder


def test_pushes_come_out_in_the_order_they_were_sent_whatever_order_they_arrive_in() -> None:
    order = InOrder()
    assert order.add(1, b"end") == [], "1 waits for 0"
    assert order.add(0, b"checkpoint") == [b"checkpoint", b"end"]
    assert order.add(3, b"d") == [] and order.add(2, b"c") == [b"c", b"d"]
    assert order.add(4, b"e") == [b"e"] and order.next == 5


def test_in_order_arrivals_pass_straight_through() -> None:
    order = InOrder()
    assert [order.add(i, bytes([i])) for i in range(3)] == [[b"\x00"], [b"\x01"], [b"\x02"]]
