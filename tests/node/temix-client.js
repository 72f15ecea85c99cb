// A TeMIX client written with the node `soap` package, independent of the temix codebase.
//
// From the WSDL a running temix server serves, it creates a tender as one party, requests it as
// the counterparty, accepts part of it (eiCreateTransaction naming the tender) and requests it
// again, every request signed with WS-Security by node soap's WSSecurityCert (xml-crypto).
// Then it sends two requests the server must refuse: a payload signed by another party, and a
// signature made with one party's key under another party's certificate.
//
// With --addressing yes, every request also carries WS-Addressing 1.0 headers (wsa:Action and
// wsa:To with mustUnderstand, a wsa:MessageID, an anonymous wsa:ReplyTo), which the signature
// covers too (WSSecurityCert's additionalReferences).
//
// Each step prints one JSON line on stdout; tests/test_interop_node.py runs this and checks them.
//
// Usage:
//   node temix-client.js --wsdl URL --soap 1.1|1.2 --parties DIR --author NAME --acceptor NAME
//     --start ISO --duration ISO8601-DURATION --expires ISO --run ID [--addressing yes|no]
// where DIR holds NAME.key (PKCS #8 PEM) and NAME.pem (certificate) for both parties, and ID
// makes the tender, transaction and request ids unique.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const soap = require('soap');

const NS = {
  emix: 'http://docs.oasis-open.org/ns/emix/2011/06',
  power: 'http://docs.oasis-open.org/ns/emix/2011/06/power',
  scale: 'http://docs.oasis-open.org/ns/emix/2011/06/siscale',
  xcal: 'urn:ietf:params:xml:ns:icalendar-2.0',
};
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';
const MARKET_CONTEXT = 'urn:temix:market:development';
const TENDERED_MW = '2.5';
const ACCEPTED_MW = '1.5';
const PRICE = '42.50';
const EI_WSDL = 'http://docs.oasis-open.org/ns/energyinterop/201110/wsdl';
const WSA = 'http://www.w3.org/2005/08/addressing';
const WSA_HEADERS = ['wsa:Action', 'wsa:To', 'wsa:MessageID', 'wsa:ReplyTo'];

const REQUIRED = [
  'wsdl', 'soap', 'parties', 'author', 'acceptor', 'start', 'duration', 'expires', 'run',
];
const { values: args } = parseArgs({
  options: {
    ...Object.fromEntries(REQUIRED.map((name) => [name, { type: 'string' }])),
    addressing: { type: 'string', default: 'no' },
  },
  strict: true,
});
const missing = REQUIRED.filter((name) => args[name] === undefined);
if (missing.length > 0 || !['1.1', '1.2'].includes(args.soap)) {
  process.stderr.write(`missing or bad options: ${missing.join(', ') || '--soap'}\n`);
  process.exit(2);
}
const SOAP12 = args.soap === '1.2';
const ADDRESSING = args.addressing === 'yes';
const PORT_SUFFIX = SOAP12 ? 'Soap12Port' : 'Soap11Port';

function credentials(party) {
  return {
    key: fs.readFileSync(path.join(args.parties, `${party}.key`), 'utf8'),
    certificate: fs.readFileSync(path.join(args.parties, `${party}.pem`), 'utf8'),
  };
}

// WS-Security as the server requires it: a Timestamp and a BinarySecurityToken, and a signature
// over the Body and the Timestamp (wsu:Id references), each reference with the exclusive C14N
// transform only (node soap's default adds the enveloped-signature transform, which the server
// refuses), SHA-256 digests, RSA-SHA256, exclusive C14N of SignedInfo (node soap's fixed
// choice). A new instance per request: one xml-crypto signer signs one document.
function security(keyOf, certificateOf) {
  return new soap.WSSecurityCert(keyOf.key, certificateOf.certificate, '', {
    hasTimeStamp: true,
    signatureAlgorithm: RSA_SHA256,
    digestAlgorithm: SHA256,
    signatureTransformations: [EXC_C14N],
    signerOptions: { prefix: 'ds', idMode: 'wssecurity' },
    additionalReferences: ADDRESSING ? WSA_HEADERS : [],
  });
}

// The WS-Addressing headers of one request to `operation`, and its MessageID.
function addressing(client, operation) {
  const messageId = `urn:uuid:${crypto.randomUUID()}`;
  const must = 'soap:mustUnderstand="1"';
  client.clearSoapHeaders();
  client.addSoapHeader(`<wsa:Action xmlns:wsa="${WSA}" ${must}>${EI_WSDL}/${operation}</wsa:Action>`);
  client.addSoapHeader(`<wsa:To xmlns:wsa="${WSA}" ${must}>${args.wsdl.split('?')[0]}</wsa:To>`);
  client.addSoapHeader(`<wsa:MessageID xmlns:wsa="${WSA}">${messageId}</wsa:MessageID>`);
  client.addSoapHeader(
    `<wsa:ReplyTo xmlns:wsa="${WSA}"><wsa:Address>${WSA}/anonymous</wsa:Address></wsa:ReplyTo>`,
  );
  return messageId;
}

// Calls an operation of the port for the SOAP version asked for, signed by `signer` (a party's
// credentials) under `certificate` (the same party's, unless a test wants a mismatch).
function call(client, service, operation, body, signer, certificate = signer) {
  client.setSecurity(security(signer, certificate));
  const messageID = ADDRESSING ? addressing(client, operation) : null;
  const method = client.TemixService[`${service}${PORT_SUFFIX}`][operation];
  return new Promise((resolve) => {
    method(body, (error, result, raw, header) => {
      const relatesTo = header ? text(header.RelatesTo) : null;
      resolve({ error, result, messageID, relatesTo });
    });
  });
}

// The emix:emixBase of a power product.
//
// node soap cannot write this element from the schema alone, so every element in it is named
// with an explicit prefix (node soap's `prefix:name` keys); node soap declares emix, the
// namespace of emixBase's own type, and the others are declared on emixBase here:
// * emixBase is abstract-typed (emix:EmixBaseType): an instance names its concrete type with
//   xsi:type="emix:ProductType", given here as an attribute next to the prefixes it needs;
// * xcal:interval, xcal:dtstart, xcal:x-wsCalendar-attach, power:temixPower, power:pnode,
//   emix:price, power:powerReal and power:energyReal are substitution-group members, which node
//   soap does not look up, so it cannot tell their namespaces.
// node soap looks the prefix of an element's type (ei:EiTenderType of ei:eiTender) up in the
// WSDL document's own declarations; the WSDL's root declares every payload prefix for it.
function product({ uid, side, state, quantity, expires, integralOnly }) {
  const base = {
    attributes: {
      'xsi:type': 'emix:ProductType',
      'xmlns:xcal': NS.xcal,
      'xmlns:power': NS.power,
      'xmlns:scale': NS.scale,
    },
    'xcal:components': {
      'xcal:interval': {
        'xcal:properties': {
          'xcal:dtstart': { 'xcal:date-time': args.start },
          'xcal:duration': { 'xcal:duration': args.duration },
          'xcal:uid': { 'xcal:text': `P-${args.run}-i1` },
          'xcal:x-wsCalendar-attach': {
            'power:temixPower': {
              'power:pnode': { 'power:node': 'NODE-A' },
              'emix:price': { 'emix:value': PRICE },
              'power:powerReal': {
                'power:itemDescription': 'RealPower',
                'power:itemUnits': 'W',
                'scale:siScaleCode': 'M',
                'power:powerAttributes': {
                  'power:hertz': '60',
                  'power:voltage': '230',
                  'power:ac': 'true',
                },
              },
              'power:energyReal': {
                'power:itemDescription': 'RealEnergy',
                'power:itemUnits': 'Wh',
                'scale:siScaleCode': 'M',
              },
              'emix:quantity': quantity,
            },
          },
        },
      },
    },
    'emix:uid': uid,
    'emix:transactiveState': state,
  };
  if (expires !== undefined) base['emix:expirationDate'] = expires;
  if (integralOnly !== undefined) base['emix:integralOnly'] = integralOnly;
  base['emix:currency'] = 'USD';
  base['emix:marketContext'] = MARKET_CONTEXT;
  base['emix:side'] = side;
  return base;
}

// node soap parses a reply into objects without namespaces; repeated elements may come back as
// one object or an array.
function list(value) {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function text(value) {
  if (value !== null && typeof value === 'object' && '$value' in value) return String(value.$value);
  return value === undefined || value === null ? null : String(value);
}

function outcome(reply) {
  const addressed = { messageID: reply.messageID, relatesTo: reply.relatesTo };
  if (reply.error) {
    return {
      fault: fault(reply.error),
      httpStatus: reply.error.response?.status ?? null,
      ...addressed,
    };
  }
  return { responseCode: text(reply.result?.eiResponse?.responseCode), ...addressed };
}

// The most precise code of a SOAP fault: the SOAP 1.1 faultcode or the SOAP 1.2 Subcode.
function fault(error) {
  const element = error.root?.Envelope?.Body?.Fault;
  if (!element) return { message: String(error.message || error) };
  const code = SOAP12 ? text(element.Code?.Subcode?.Value) : text(element.faultcode);
  const reason = SOAP12 ? text(list(element.Reason?.Text)[0]) : text(element.faultstring);
  return { code, reason };
}

function tenderSeen(reply, tenderId) {
  const tender = list(reply.result?.eiTender).find((t) => text(t.tenderID) === tenderId);
  if (!tender) return null;
  const base = tender.emixBase;
  const description =
    list(base?.components?.interval)[0]?.properties?.['x-wsCalendar-attach']?.temixPower;
  return {
    tenderID: text(tender.tenderID),
    quantity: text(description?.quantity),
    price: text(description?.price?.value),
    side: text(base?.side),
    state: text(base?.transactiveState),
  };
}

function report(step, fields) {
  process.stdout.write(`${JSON.stringify({ step, soap: args.soap, ...fields })}\n`);
}

async function main() {
  const client = await soap.createClientAsync(args.wsdl, { forceSoap12Headers: SOAP12 });
  const author = credentials(args.author);
  const acceptor = credentials(args.acceptor);
  const tenderId = `T-${args.run}`;
  const transactionId = `TX-${args.run}`;
  const requestId = (name) => `${args.run}-${name}`;

  const created = await call(
    client,
    'EiTender',
    'EiCreateTender',
    {
      requestID: requestId('create-tender'),
      partyID: args.author,
      counterPartyID: args.acceptor,
      eiTender: {
        tenderID: tenderId,
        'emix:emixBase': product({
          uid: `P-${args.run}`,
          side: 'sell',
          state: 'tender',
          quantity: TENDERED_MW,
          expires: args.expires,
          integralOnly: 'false',
        }),
      },
    },
    author,
  );
  report('createTender', {
    party: args.author,
    requestID: requestId('create-tender'),
    ...outcome(created),
    tenderIDs: list(created.result?.tenderID).map(text),
  });

  const requestTender = (name) => ({
    requestID: requestId(name),
    partyID: args.acceptor,
    requestorPartyID: args.acceptor,
    marketContext: MARKET_CONTEXT,
    tenderID: tenderId,
  });
  const seen = await call(
    client,
    'EiTender',
    'EiRequestTender',
    requestTender('request-tender'),
    acceptor,
  );
  report('requestTender', {
    party: args.acceptor,
    requestID: requestId('request-tender'),
    ...outcome(seen),
    tender: seen.error ? null : tenderSeen(seen, tenderId),
  });

  const accepted = await call(
    client,
    'EiTransaction',
    'EiCreateTransaction',
    {
      requestID: requestId('accept'),
      partyID: args.acceptor,
      counterPartyID: args.author,
      eiTransaction: {
        transactionID: transactionId,
        tenderID: tenderId,
        'emix:emixBase': product({
          uid: transactionId,
          side: 'buy',
          state: 'transaction',
          quantity: ACCEPTED_MW,
        }),
      },
    },
    acceptor,
  );
  report('createTransaction', {
    party: args.acceptor,
    requestID: requestId('accept'),
    ...outcome(accepted),
    transactionID: text(accepted.result?.transactionID),
    itemCodes: list(accepted.result?.responses?.response).map((r) => text(r.responseCode)),
  });

  const remaining = await call(
    client,
    'EiTender',
    'EiRequestTender',
    requestTender('request-tender-again'),
    acceptor,
  );
  report('requestTenderAgain', {
    party: args.acceptor,
    requestID: requestId('request-tender-again'),
    ...outcome(remaining),
    tender: remaining.error ? null : tenderSeen(remaining, tenderId),
  });

  // The acceptor's request, validly signed by the author: the signer is not the party the
  // payload speaks for.
  const otherSigner = await call(
    client,
    'EiTender',
    'EiRequestTender',
    requestTender('signed-by-author'),
    author,
  );
  report('signedByAnotherParty', {
    party: args.acceptor,
    requestID: requestId('signed-by-author'),
    ...outcome(otherSigner),
  });

  // Signed with the acceptor's key, carrying the author's certificate: the signature does not
  // verify with the certificate the message names.
  const wrongCertificate = await call(
    client,
    'EiTender',
    'EiRequestTender',
    requestTender('wrong-certificate'),
    acceptor,
    author,
  );
  report('wrongCertificate', {
    party: args.acceptor,
    requestID: requestId('wrong-certificate'),
    ...outcome(wrongCertificate),
  });
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
