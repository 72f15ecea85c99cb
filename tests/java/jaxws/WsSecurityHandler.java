import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import javax.xml.XMLConstants;
import javax.xml.crypto.dom.DOMStructure;
import javax.xml.crypto.dsig.CanonicalizationMethod;
import javax.xml.crypto.dsig.DigestMethod;
import javax.xml.crypto.dsig.Reference;
import javax.xml.crypto.dsig.SignatureMethod;
import javax.xml.crypto.dsig.SignedInfo;
import javax.xml.crypto.dsig.Transform;
import javax.xml.crypto.dsig.XMLSignature;
import javax.xml.crypto.dsig.XMLSignatureFactory;
import javax.xml.crypto.dsig.dom.DOMSignContext;
import javax.xml.crypto.dsig.keyinfo.KeyInfo;
import javax.xml.crypto.dsig.spec.C14NMethodParameterSpec;
import javax.xml.crypto.dsig.spec.TransformParameterSpec;
import javax.xml.namespace.QName;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.soap.SOAPBody;
import javax.xml.soap.SOAPEnvelope;
import javax.xml.soap.SOAPHeader;
import javax.xml.soap.SOAPMessage;
import javax.xml.soap.SOAPPart;
import javax.xml.ws.handler.MessageContext;
import javax.xml.ws.handler.soap.SOAPHandler;
import javax.xml.ws.handler.soap.SOAPMessageContext;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

/**
 * A JAX-WS handler that signs each outbound message the way the TeMIX server requires and checks
 * the server's signature on each reply, faults included.
 *
 * <p>Outbound, after JAX-WS has built the envelope, it adds one {@code wsse:Security} header
 * (mustUnderstand) holding a {@code wsu:Timestamp} (Created now, Expires five minutes later), the
 * signer's certificate as an X.509 v3 {@code wsse:BinarySecurityToken} and a {@code ds:Signature}
 * made with the JDK's {@code javax.xml.crypto.dsig}: exclusive C14N, RSA-SHA256 or ECDSA-SHA256 by
 * the key, and SHA-256 references to the {@code wsu:Id} of the Body, of the Timestamp and of each
 * WS-Addressing header JAX-WS wrote (it writes them when the WSDL declares WS-Addressing). Its
 * KeyInfo is only a {@code wsse:SecurityTokenReference} to the token. With {@link #tamper} set, the
 * first {@code emix:quantity} in the Body is set to 1000 after signing.
 *
 * <p>Inbound, the reply is checked against the pinned server certificate: one Security header
 * holding one Timestamp, the server's own certificate as token, a signature over exactly the Body,
 * the Timestamp and each WS-Addressing header that verifies with that certificate's key
 * ({@code VerifySoapSignature}). The
 * verdict, {@code VALID} or {@code INVALID reason}, is kept for {@link #takeReplyVerdict}.
 */
final class WsSecurityHandler implements SOAPHandler<SOAPMessageContext> {
    static final String WSSE =
            "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
    static final String WSU = VerifySoapSignature.WSU;
    static final String X509_V3 =
            "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3";
    static final String BASE64_BINARY =
            "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0"
                    + "#Base64Binary";
    static final String EMIX = "http://docs.oasis-open.org/ns/emix/2011/06";
    static final String WSA = "http://www.w3.org/2005/08/addressing";
    static final long LIFETIME_SECONDS = 300;
    static final String TAMPERED_QUANTITY = "1000";

    private final PrivateKey key;
    private final X509Certificate certificate;
    private final X509Certificate serverCertificate;
    private volatile boolean tamper;
    private volatile String replyVerdict = "none";

    WsSecurityHandler(
            PrivateKey key, X509Certificate certificate, X509Certificate serverCertificate) {
        this.key = key;
        this.certificate = certificate;
        this.serverCertificate = serverCertificate;
    }

    /** Whether to change the Body after signing it (a message the server must refuse). */
    void tamper(boolean tamper) {
        this.tamper = tamper;
    }

    /** The verdict on the last reply's signature, and forget it. */
    String takeReplyVerdict() {
        String verdict = replyVerdict;
        replyVerdict = "none";
        return verdict;
    }

    @Override
    public Set<QName> getHeaders() {
        return Set.of(new QName(WSSE, "Security"));
    }

    @Override
    public boolean handleMessage(SOAPMessageContext context) {
        if (Boolean.TRUE.equals(context.get(MessageContext.MESSAGE_OUTBOUND_PROPERTY))) {
            try {
                sign(context.getMessage());
            } catch (Exception e) {
                throw new IllegalStateException("cannot sign the request", e);
            }
        } else {
            replyVerdict = verdict(context.getMessage());
        }
        return true;
    }

    @Override
    public boolean handleFault(SOAPMessageContext context) {
        replyVerdict = verdict(context.getMessage());
        return true;
    }

    @Override
    public void close(MessageContext context) {}

    // --- Signing ---------------------------------------------------------------------------

    private void sign(SOAPMessage message) throws Exception {
        SOAPPart document = message.getSOAPPart();
        SOAPEnvelope envelope = document.getEnvelope();
        SOAPHeader header = envelope.getHeader();
        if (header == null) {
            header = envelope.addHeader();
        }
        SOAPBody body = envelope.getBody();
        String suffix = UUID.randomUUID().toString().replace("-", "");

        Element security = element(document, WSSE, "wsse:Security");
        declare(security, "wsse", WSSE);
        declare(security, "wsu", WSU);
        security.setAttributeNS(
                envelope.getNamespaceURI(), envelope.getPrefix() + ":mustUnderstand", "1");
        header.insertBefore(security, header.getFirstChild());

        Instant created = Instant.now().truncatedTo(ChronoUnit.SECONDS);
        Element timestamp = element(document, WSU, "wsu:Timestamp");
        String timestampId = "TS-" + suffix;
        timestamp.setAttributeNS(WSU, "wsu:Id", timestampId);
        timestamp.appendChild(text(document, WSU, "wsu:Created", created.toString()));
        Instant expires = created.plusSeconds(LIFETIME_SECONDS);
        timestamp.appendChild(text(document, WSU, "wsu:Expires", expires.toString()));
        security.appendChild(timestamp);

        Element token =
                text(
                        document,
                        WSSE,
                        "wsse:BinarySecurityToken",
                        Base64.getEncoder().encodeToString(certificate.getEncoded()));
        String tokenId = "X509-" + suffix;
        token.setAttributeNS(WSU, "wsu:Id", tokenId);
        token.setAttributeNS(null, "EncodingType", BASE64_BINARY);
        token.setAttributeNS(null, "ValueType", X509_V3);
        security.appendChild(token);

        String bodyId = "Body-" + suffix;
        declare(body, "wsu", WSU);
        body.setAttributeNS(WSU, "wsu:Id", bodyId);

        List<Element> addressing = addressingHeaders(header);
        for (int i = 0; i < addressing.size(); i++) {
            declare(addressing.get(i), "wsu", WSU);
            addressing.get(i).setAttributeNS(WSU, "wsu:Id", "WSA-" + i + "-" + suffix);
        }

        XMLSignatureFactory factory = XMLSignatureFactory.getInstance("DOM");
        DigestMethod sha256 = factory.newDigestMethod(DigestMethod.SHA256, null);
        List<Transform> transforms =
                List.of(
                        factory.newTransform(
                                CanonicalizationMethod.EXCLUSIVE, (TransformParameterSpec) null));
        List<Reference> references = new ArrayList<>();
        references.add(factory.newReference("#" + bodyId, sha256, transforms, null, null));
        references.add(factory.newReference("#" + timestampId, sha256, transforms, null, null));
        for (Element block : addressing) {
            String id = block.getAttributeNS(WSU, "Id");
            references.add(factory.newReference("#" + id, sha256, transforms, null, null));
        }
        SignedInfo signedInfo =
                factory.newSignedInfo(
                        factory.newCanonicalizationMethod(
                                CanonicalizationMethod.EXCLUSIVE, (C14NMethodParameterSpec) null),
                        factory.newSignatureMethod(signatureMethod(), null),
                        references);

        Element tokenReference = element(document, WSSE, "wsse:SecurityTokenReference");
        declare(tokenReference, "wsse", WSSE);
        Element reference = element(document, WSSE, "wsse:Reference");
        reference.setAttributeNS(null, "URI", "#" + tokenId);
        reference.setAttributeNS(null, "ValueType", X509_V3);
        tokenReference.appendChild(reference);
        KeyInfo keyInfo =
                factory.getKeyInfoFactory().newKeyInfo(List.of(new DOMStructure(tokenReference)));

        DOMSignContext context = new DOMSignContext(key, security);
        context.setDefaultNamespacePrefix("ds");
        context.setIdAttributeNS(body, WSU, "Id");
        context.setIdAttributeNS(timestamp, WSU, "Id");
        for (Element block : addressing) {
            context.setIdAttributeNS(block, WSU, "Id");
        }
        factory.newXMLSignature(signedInfo, keyInfo).sign(context);

        if (tamper) {
            body.getElementsByTagNameNS(EMIX, "quantity").item(0).setTextContent(TAMPERED_QUANTITY);
        }
        message.saveChanges();
    }

    /** The header's WS-Addressing blocks, which change what a request means: signed too. */
    private static List<Element> addressingHeaders(Element header) {
        List<Element> found = new ArrayList<>();
        for (Node child = header.getFirstChild(); child != null; child = child.getNextSibling()) {
            if (child instanceof Element && WSA.equals(child.getNamespaceURI())) {
                found.add((Element) child);
            }
        }
        return found;
    }

    private String signatureMethod() {
        switch (key.getAlgorithm()) {
            case "RSA":
                return SignatureMethod.RSA_SHA256;
            case "EC":
                return SignatureMethod.ECDSA_SHA256;
            default:
                throw new IllegalArgumentException(
                        "cannot sign with a " + key.getAlgorithm() + " key");
        }
    }

    private static Element element(Document document, String namespace, String qualifiedName) {
        return document.createElementNS(namespace, qualifiedName);
    }

    private static Element text(
            Document document, String namespace, String qualifiedName, String content) {
        Element element = element(document, namespace, qualifiedName);
        element.appendChild(document.createTextNode(content));
        return element;
    }

    /** An explicit namespace declaration: exclusive C14N renders declarations from the DOM. */
    private static void declare(Element element, String prefix, String namespace) {
        element.setAttributeNS(XMLConstants.XMLNS_ATTRIBUTE_NS_URI, "xmlns:" + prefix, namespace);
    }

    // --- Checking replies ------------------------------------------------------------------

    private String verdict(SOAPMessage message) {
        try {
            String problem = problem(message);
            return problem == null ? "VALID" : "INVALID " + problem;
        } catch (Exception e) {
            return "INVALID " + VerifySoapSignature.describe(e);
        }
    }

    /** Null when the reply is signed as the profile says by the pinned server certificate. */
    private String problem(SOAPMessage message) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        message.writeTo(bytes);
        Document document = parse(bytes.toByteArray());
        Element envelope = document.getDocumentElement();
        String soap = envelope.getNamespaceURI();
        Element header = onlyChild(envelope, soap, "Header");
        Element body = onlyChild(envelope, soap, "Body");
        if (header == null || body == null) {
            return "no single Header and Body";
        }
        Element security = onlyChild(header, WSSE, "Security");
        if (security == null) {
            return "no single wsse:Security header";
        }
        Element timestamp = onlyChild(security, WSU, "Timestamp");
        Element token = onlyChild(security, WSSE, "BinarySecurityToken");
        Element signature = onlyChild(security, XMLSignature.XMLNS, "Signature");
        if (timestamp == null || token == null || signature == null) {
            return "not one Timestamp, token and Signature";
        }
        byte[] sent = Base64.getMimeDecoder().decode(token.getTextContent());
        if (!Arrays.equals(sent, serverCertificate.getEncoded())) {
            return "the token is not the server's certificate";
        }
        Set<String> expected = new HashSet<>();
        expected.add("#" + body.getAttributeNS(WSU, "Id"));
        expected.add("#" + timestamp.getAttributeNS(WSU, "Id"));
        for (Element block : addressingHeaders(header)) {
            expected.add("#" + block.getAttributeNS(WSU, "Id"));
        }
        Set<String> referenced = new HashSet<>();
        NodeList references = signature.getElementsByTagNameNS(XMLSignature.XMLNS, "Reference");
        for (int i = 0; i < references.getLength(); i++) {
            referenced.add(((Element) references.item(i)).getAttribute("URI"));
        }
        if (references.getLength() != expected.size() || !referenced.equals(expected)) {
            return "references " + referenced + " are not the Body, Timestamp and WS-A headers";
        }
        PublicKey serverKey = serverCertificate.getPublicKey();
        return VerifySoapSignature.check(document, serverKey);
    }

    private static Document parse(byte[] bytes) throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        factory.setXIncludeAware(false);
        factory.setExpandEntityReferences(false);
        return factory.newDocumentBuilder().parse(new ByteArrayInputStream(bytes));
    }

    /** The one child element of {@code parent} with this name, or null if none or several. */
    private static Element onlyChild(Element parent, String namespace, String localName) {
        List<Element> found = new ArrayList<>();
        for (Node child = parent.getFirstChild(); child != null; child = child.getNextSibling()) {
            if (child instanceof Element
                    && namespace.equals(child.getNamespaceURI())
                    && localName.equals(child.getLocalName())) {
                found.add((Element) child);
            }
        }
        return found.size() == 1 ? found.get(0) : null;
    }
}
