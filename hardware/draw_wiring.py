"""Draw the wiring diagrams in hardware/wiring/*.svg with schemdraw: `.venv/bin/python hardware/draw_wiring.py`.

The pins drawn here are the ones in hardware/pinmap.md and firmware/config.example.json; change all three together.
"""

from __future__ import annotations

from pathlib import Path

import schemdraw
import schemdraw.elements as elm

OUT = Path(__file__).resolve().parent / "wiring"


SPACING = 3.5  # vertical room per pin row, so a branch up or down never touches the next row


def board(d: schemdraw.Drawing, pins: list[str], label: str) -> elm.Ic:
    """A board as a box with the used pins on its right side, top to bottom, anchored pin1, pin2, ..."""
    ic = elm.Ic(pins=[elm.IcPin(name=p, side="right", anchorname=f"pin{len(pins) - i}")
                      for i, p in enumerate(reversed(pins))],
                edgepadW=2.2, pinspacing=SPACING)
    d.add(ic.label(label, loc="top", fontsize=13))
    return ic


def end_label(d: schemdraw.Drawing, text: str) -> None:
    """Where a wire ends at a part's pin: a dot and the part's name."""
    d.add(elm.Dot(open=True).label(text, loc="right", fontsize=11))


def climate() -> schemdraw.Drawing:
    """DHT22 on GPIO4 with a 10 k pull-up; LDR divider into GPIO34 (ADC1, input only)."""
    d = schemdraw.Drawing(show=False, fontsize=11)
    ic = board(d, ["GPIO4", "GPIO34", "3V3", "GND"], "ESP32 DevKit\nclimate node")
    d.add(elm.Line().at(ic.pin1).right(2))
    d.add(elm.Dot())
    d.push()
    d.add(elm.Resistor().up(2).label("10 kΩ", loc="bottom"))
    d.add(elm.Vdd().label("3V3"))
    d.pop()
    d.add(elm.Line().right(3))
    end_label(d, "DHT22 pin 2 DATA   (pin 1 VCC 3V3, pin 4 GND)")
    d.add(elm.Line().at(ic.pin2).right(2))
    d.add(elm.Dot())
    d.push()
    d.add(elm.Resistor().down(1.6).label("10 kΩ", loc="bottom"))
    d.add(elm.Ground())
    d.pop()
    d.add(elm.Photoresistor().right(3).label("LDR GL5528"))
    d.add(elm.Vdd().label("3V3"))
    d.add(elm.Line().at(ic.pin3).right(2))
    end_label(d, "3V3 rail: DHT22 VCC, pull-up, LDR")
    d.add(elm.Line().at(ic.pin4).right(2))
    end_label(d, "GND rail: DHT22 GND, 10 kΩ")
    return d


def security() -> schemdraw.Drawing:
    """PIR output on GPIO27; NC reed loop GPIO26-GND (internal pull-up); piezo on GPIO25 via an NPN."""
    d = schemdraw.Drawing(show=False, fontsize=11)
    ic = board(d, ["GPIO27", "GPIO26", "GPIO25", "5V (VIN)", "GND"], "ESP32 DevKit\nsecurity node")
    d.add(elm.Line().at(ic.pin1).right(3))
    end_label(d, "PIR OUT (AM312 3.3 V, or HC-SR501 whose OUT is 3.3 V)")
    d.add(elm.Line().at(ic.pin2).right(1.5))
    d.add(elm.Switch(action="open").right(2.5).label("reed contacts, NC, in series"))
    d.add(elm.Ground())
    d.add(elm.Resistor().at(ic.pin3).right(2.5).label("1 kΩ"))
    q = elm.BjtNpn(circle=True).anchor("base").label("2N2222", loc="right")
    d.add(q)
    d.add(elm.Ground().at(q.emitter))
    d.add(elm.Speaker().at(q.collector).up().label("piezo to 5V", loc="right"))
    d.add(elm.Line().at(ic.pin4).right(2))
    end_label(d, "5V: PIR VCC (HC-SR501 needs 5 V), piezo +")
    d.add(elm.Line().at(ic.pin5).right(2))
    end_label(d, "GND rail")
    return d


def plug() -> schemdraw.Drawing:
    """Low-voltage side only: relay module on GPIO23; BL0937 CF/CF1/SEL on GPIO18/19/21."""
    d = schemdraw.Drawing(show=False, fontsize=11)
    ic = board(d, ["GPIO23", "GPIO18", "GPIO19", "GPIO21", "GND"], "ESP32\nsmart plug\n(low-voltage side)")
    d.add(elm.Line().at(ic.pin1).right(3))
    end_label(d, "relay module IN (opto-isolated, 3.3 V logic)")
    d.add(elm.Line().at(ic.pin2).right(3))
    end_label(d, "BL0937 CF   (pulses ∝ active power)")
    d.add(elm.Line().at(ic.pin3).right(3))
    end_label(d, "BL0937 CF1  (pulses ∝ current or voltage)")
    d.add(elm.Line().at(ic.pin4).right(3))
    end_label(d, "BL0937 SEL  (chooses what CF1 measures)")
    d.add(elm.Line().at(ic.pin5).right(3))
    end_label(d, "GND of the plug's low-voltage supply (NOT isolated from mains)")
    return d


def pi_gateway() -> schemdraw.Drawing:
    """Raspberry Pi: buzzer on GPIO18 via an NPN, mode button GPIO17-GND, DHT22 on GPIO4."""
    d = schemdraw.Drawing(show=False, fontsize=11)
    ic = board(d, ["GPIO18 (pin 12)", "GPIO17 (pin 11)", "GPIO4 (pin 7)", "3V3 (pin 1)", "GND (pin 6)"],
               "Raspberry Pi\n40-pin header")
    d.add(elm.Resistor().at(ic.pin1).right(2.5).label("1 kΩ"))
    q = elm.BjtNpn(circle=True).anchor("base").label("2N2222", loc="right")
    d.add(q)
    d.add(elm.Ground().at(q.emitter))
    d.add(elm.Speaker().at(q.collector).up().label("active buzzer to 5V (pin 2)", loc="right"))
    d.add(elm.Line().at(ic.pin2).right(1.5))
    d.add(elm.Button().right(2.5).label("mode button"))
    d.add(elm.Ground())
    d.add(elm.Line().at(ic.pin3).right(2))
    d.add(elm.Dot())
    d.push()
    d.add(elm.Resistor().up(2).label("10 kΩ", loc="bottom"))
    d.add(elm.Vdd().label("3V3"))
    d.pop()
    d.add(elm.Line().right(3))
    end_label(d, "DHT22 DATA")
    d.add(elm.Line().at(ic.pin4).right(2))
    end_label(d, "3V3: DHT22 VCC, pull-up")
    d.add(elm.Line().at(ic.pin5).right(2))
    end_label(d, "GND rail")
    return d


def main() -> None:
    """Write one SVG per diagram."""
    OUT.mkdir(exist_ok=True)
    schemdraw.use("svg")
    for name, build in (("climate-node", climate), ("security-node", security), ("smart-plug", plug),
                        ("pi-gateway", pi_gateway)):
        path = OUT / f"{name}.svg"
        build().save(str(path))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
