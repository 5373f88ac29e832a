"""``AsyncTransport``: a blocking transport behind the ``async`` interface of
:class:`sst_hw.host.client.AsyncClient`, to test the async client without a
simulator (e.g. around :class:`~sst_hw.host.transport.ModelTransport`)."""

from __future__ import annotations


class AsyncTransport:
    """``await write``/``await read`` of the blocking ``transport``."""

    def __init__(self, transport):
        self.t = transport

    async def write(self, data):
        self.t.write(data)

    async def read(self, n, timeout):
        return self.t.read(n, timeout)

    def reset_input(self):
        self.t.reset_input()
