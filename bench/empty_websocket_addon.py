"""A mitmproxy addon that sees every WebSocket message and does nothing: the floor of any recording addon
(used by bench/proxy_hook_floor.py). It logs the line the proxy runner waits for."""
import logging
class Empty:
    def running(self):
        logging.getLogger(__name__).info("ocpp capture: recording to nowhere")
    def websocket_message(self, flow):
        pass
addons = [Empty()]
