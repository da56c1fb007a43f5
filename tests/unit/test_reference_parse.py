"""The reconciler's reference data parses stored 20-digit codes without codes.parse's general path:
it must give exactly what codes.parse gives, and leave every other value to codes.parse."""

from reconciler.rules.model import Reference
from tracesvc.domain import codes


def test_stored_msfx_codes_parse_as_codes_parse_does():
    ref = Reference({}, {})
    for code in ("86100010000000000012", "81234567890123456789", "80000000000000000000"):
        assert ref.parsed(code) == codes.parse(code)


def test_other_values_still_take_the_general_path():
    ref = Reference({}, {})
    assert ref.parsed("96100010000000000012") is None  # 20 digits not starting with 8: an error there
    assert ref.parsed("6901234567892") is None  # a commodity barcode is no trace code
    assert ref.parsed("8610001000000000001") is None  # 19 digits
    gs1 = "(01)06901234567892(21)ABC123"
    assert ref.parsed(gs1) == codes.parse(gs1)
