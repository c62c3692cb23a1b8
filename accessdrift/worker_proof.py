"""The proof a worker gives its command-line clients that it holds their token: shared by
the worker's views (``accessdrift/streams/web.py``) and their client
(``accessdrift/commands/worker_client.py``)."""

import hashlib
import hmac
import ipaddress

__all__ = ["socket_address", "worker_proof"]


def worker_proof(token: str, nonce: str, port: int, deployment: str, address: str) -> str:
    """What only a holder of the token can answer to a client's nonce. It names the port
    the worker serves on and the address the connection reached it on: an impostor on
    another port or another address (127.0.0.1 while the worker holds [::1]) that relays
    the nonce to the real worker gets a proof for the worker's port and address, which
    its client does not accept. The key is derived for this use alone, so a proof is no
    session and no bearer token, and an HMAC says nothing of its key: answering any
    nonce helps no one guess the token."""
    key = hmac.new(token.encode(), b"accessdrift worker proof key", hashlib.sha256).digest()
    message = f"accessdrift-worker-proof:v2\n{nonce}\n{port}\n{deployment}\n{address}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def socket_address(address: str) -> str:
    """One spelling of a socket's IP address, as both ends name it: an IPv4-mapped IPv6
    address (``::ffff:127.0.0.1``, a dual-stack socket's) as the IPv4 one, an IPv6 one
    compressed and without its zone; what is no IP address, as it is."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)
