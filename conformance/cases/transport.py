"""Transport: the TeMIX transport product, which moves power from a point of receipt to a
point of delivery (TeMIX paper 2.7, Table 2 "Transport Interface"; EMIX-377).

Position sign convention (temix profile, ``temix.positions``): positions are sells minus buys.
The buyer of transport on A->B has its power taken away at A, like a sale there, and brought
to B, like a purchase there: +rate at A and -rate at B. The seller is the other way round, and
the transport price is paid at the point of delivery only. Positions are compared before and
after the trade, so that other trades in the same interval (an earlier run's) do not matter.
"""

from __future__ import annotations

from decimal import Decimal

from temix import codec
from temix import payloads as p
from temix.conformance.catalogue import case
from temix.conformance.trial import Trial
from temix.model import Interval, Position, Tender, TransportPath
from temix.namespaces import POWER

TRANSPORT_TRADED = "TMX-TRP-001"


def _path(trial: Trial) -> TransportPath:
    return TransportPath(trial.node.id, trial.other_node.id)


def _transport_tender(trial: Trial, interval: Interval | None = None) -> Tender:
    return trial.tender(interface=_path(trial), interval=interval)


@case(
    TRANSPORT_TRADED,
    "A transport tender from node to other-node is listed for the counterparty and accepted, "
    "and both parties list the transaction",
    "TeMIX paper 2.7 (Transport Interface), 2.13; EMIX-377 (TeMIX Transport Product); "
    "EI 1.0 EiCreateTender, EiCreateTransaction, EiRequestTransaction",
    requires=["transport"],
)
def transport_traded(trial: Trial) -> None:
    path = _path(trial)
    tender = _transport_tender(trial)
    trial.offer(tender)
    buyer = trial.client(trial.counterparty)
    listed = trial.succeeds(
        lambda: buyer.request_tenders(tender_ids=(tender.tender_id,)),
        "the counterparty listing the transport tender",
    )
    trial.expect(len(listed) == 1, f"the counterparty sees {len(listed)} tenders, not one")
    trial.expect(
        listed[0].product.description.interface == path,
        f"the listed tender's interface is {listed[0].product.description.interface}, "
        f"not the path {path}",
    )
    transaction_id = trial.new_id()
    trial.succeeds(
        lambda: buyer.accept(tender, trial.party, transaction_id=transaction_id),
        "the counterparty accepting the transport tender",
    )
    for party in (trial.party, trial.counterparty):
        found = trial.succeeds(
            lambda party=party: trial.client(party).request_transactions(
                transaction_ids=(transaction_id,)
            ),
            f"{party} listing the transport transaction",
        )
        trial.expect(len(found) == 1, f"{party} sees {len(found)} transactions {transaction_id}")
        trial.expect(
            found[0].product.description.interface == path,
            f"{party}'s transaction is at {found[0].product.description.interface}, not {path}",
        )


def _positions(trial: Trial, interval: Interval) -> dict[tuple[str, str], Position]:
    """Both parties' positions at both ends of the path over ``interval``."""
    found = {}
    for party in (trial.party, trial.counterparty):
        for node in (trial.node, trial.other_node):
            reply = trial.succeeds(
                lambda party=party, node=node: trial.client(party).request_position(
                    trial.market.uri, node, interval
                ),
                f"{party}'s position at {node.id}",
            )
            trial.expect(
                len(reply.positions) == 1,
                f"{party}'s position at {node.id}: {len(reply.positions)} positions for one "
                "interval",
            )
            found[party, node.id] = reply.positions[0]
    return found


@case(
    "TMX-TRP-002",
    "A transport trade on A->B moves the buyer's position up at A and down at B, the "
    "seller's the other way, with the price paid at B",
    "TeMIX paper 2.5 (position: sells less buys), 2.7 (Transport Interface); EMIX-377; "
    "temix profile: docs/server.md EiRequestPosition (temix.positions transport convention)",
    requires=["transport", "positions"],
    after=[TRANSPORT_TRADED],
)
def transport_positions(trial: Trial) -> None:
    interval = trial.interval()
    tender = _transport_tender(trial, interval)
    rate = tender.product.description.quantity
    hours = Decimal(interval.seconds) / 3600
    money = tender.product.description.price * rate * hours
    before = _positions(trial, interval)
    trial.offer(tender)
    trial.succeeds(
        lambda: trial.client(trial.counterparty).accept(tender, trial.party),
        "the counterparty buying the transport",
    )
    after = _positions(trial, interval)
    receipt, delivery = trial.node.id, trial.other_node.id
    seller, buyer = trial.party, trial.counterparty
    expected = {
        (buyer, receipt): (rate, Decimal(0)),
        (buyer, delivery): (-rate, -money),
        (seller, receipt): (-rate, Decimal(0)),
        (seller, delivery): (rate, money),
    }
    for (party, node), (net_rate, cost) in expected.items():
        old, new = before[party, node], after[party, node]
        role = "buyer" if party == buyer else "seller"
        trial.expect(
            new.net_rate - old.net_rate == net_rate,
            f"the {role}'s net rate at {node} moved by {new.net_rate - old.net_rate}, "
            f"expected {net_rate}",
        )
        trial.expect(
            new.energy - old.energy == net_rate * hours,
            f"the {role}'s energy at {node} moved by {new.energy - old.energy}, "
            f"expected {net_rate * hours}",
        )
        trial.expect(
            new.cost - old.cost == cost,
            f"the {role}'s cost at {node} moved by {new.cost - old.cost}, expected {cost}",
        )


@case(
    "TMX-TRP-003",
    "A transport tender whose point of receipt and point of delivery are the same node is "
    "refused and not stored",
    "TeMIX paper 2.7 (a Transport Interface names two nodes); EMIX-377 (a Transport Product "
    "has two interfaces); temix profile: docs/responses.md (400)",
    requires=["transport"],
)
def transport_to_itself_refused(trial: Trial) -> None:
    tender = _transport_tender(trial)
    payload = codec.encode(
        p.CreateTender(trial.new_id(), trial.party, trial.counterparty, (tender,))
    )
    delivery = next(payload.iter(f"{{{POWER}}}pointOfDelivery"))
    receipt = next(payload.iter(f"{{{POWER}}}pointOfReceipt"))
    delivery.text = receipt.text
    reply = trial.post(trial.route(p.CreateTender), trial.envelope(payload))
    answer = reply.payload()
    code = answer.response.code
    trial.expect(
        not code.startswith("2"),
        f"a transport path from {receipt.text} to itself was accepted ({code})",
    )
    if code != "400":
        trial.warn(f"a transport path to itself was refused with {code}; the profile says 400")
    listed = trial.succeeds(
        lambda: trial.client().request_tenders(tender_ids=(tender.tender_id,)),
        "listing the tender",
    )
    trial.expect(not listed, f"the tender {tender.tender_id} was stored all the same")
