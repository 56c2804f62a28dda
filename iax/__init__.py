"""iax: a sans-IO IAX2 stack (RFC 5456) for many concurrent calls on one UDP port.

Bytes, datagrams and the current time go in; datagrams and events come out.  Nothing here
touches sockets or clocks except ``iax/aio.py``, the one asyncio adapter.

Modules: ``frames`` (full/mini/meta frame codec), ``ies`` (information elements),
``reliable`` (sequence numbers, ACK, retransmission, timestamps), ``dialog`` (what calls
and registration transactions share), ``call`` (one call's transition table), ``auth``
(MD5, call tokens), ``registration`` (client and registrar), ``playout`` (fixed-delay
buffer), ``events``, ``options``, ``endpoint`` (the public object), ``aio``.

Use::

    ep = Endpoint(EndpointOptions(peers=(Peer("iaxmodem", secret="pw",
                                               calltoken_required=False),)), rng)
    call = ep.place_call(("127.0.0.1", 4570), "5551234", format=Format.ALAW, now=now)
    ep.receive_datagram(data, addr, now)      # for every datagram
    ep.handle_timer(now)                      # when now >= ep.get_timer()
    for data, addr in ep.datagrams_to_send(now): sock.sendto(data, addr)
    while (event := ep.next_event()) is not None: ...   # IncomingCall, VoiceReceived, ...
    ep.send_voice(call, alaw_160_bytes, now)  # every 20 ms once answered

or ``proto = await iax.aio.open_endpoint(("0.0.0.0", 4569), options)`` and
``proto.act("place_call", addr, "5551234")`` (supplies ``now``, transmits).  Always give
the API the current ``now``: a stale one misplaces timestamps and time-outs.
"""
