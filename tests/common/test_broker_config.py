import pytest

from common.config import ConfigError, validate
from common.mqtt import BrokerConfig


@pytest.mark.parametrize(("url", "address", "tls"), [
    ("mqtt://broker.example", ("broker.example", 1883), False),
    ("mqtts://broker.example", ("broker.example", 8883), True),
    ("mqtt://127.0.0.1:18830/", ("127.0.0.1", 18830), False),  # hand-split gave "18830/"
    ("mqtts://[::1]:8884", ("::1", 8884), True),
])
def test_the_address_and_tls_come_from_the_url(url, address, tls):
    cfg = BrokerConfig(url=url)
    assert (cfg.address(), cfg.tls) == (address, tls)


@pytest.mark.parametrize(("data", "says"), [
    ({"url": "mqtt://h:99999"}, "url: the port must be a number from 0 to 65535"),
    ({"url": "http://h"}, "url: String should match pattern"),
    ({"url": "mqtt://u:p/q@h"}, "url: the password holds '/'"),
    ({"url": "mqtt://h", "ca_file": "/etc/hostname"}, "ca_file needs an mqtts:// url"),
    ({"url": "mqtts://h", "ca_file": "/nonexistent/ca.crt"}, "cannot read /nonexistent"),
])
def test_a_bad_broker_setting_is_one_line_naming_its_key(data, says):
    with pytest.raises(ConfigError) as err:
        validate(BrokerConfig, data, {})
    assert says in str(err.value)
