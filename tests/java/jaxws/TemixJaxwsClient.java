import ietf.params.xml.ns.icalendar_2.ArrayOfProperties;
import ietf.params.xml.ns.icalendar_2.ArrayOfVcalendarContainedComponents;
import ietf.params.xml.ns.icalendar_2.BasePropertyType;
import ietf.params.xml.ns.icalendar_2.DtstartPropType;
import ietf.params.xml.ns.icalendar_2.DurationPropType;
import ietf.params.xml.ns.icalendar_2.UidPropType;
import ietf.params.xml.ns.icalendar_2.VcalendarContainedComponentType;
import ietf.params.xml.ns.icalendar_2.WsCalendarAttachType;
import ietf.params.xml.ns.icalendar_2.WsCalendarIntervalType;
import java.io.InputStream;
import java.math.BigDecimal;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import javax.xml.bind.JAXBElement;
import javax.xml.datatype.DatatypeFactory;
import javax.xml.datatype.XMLGregorianCalendar;
import javax.xml.ws.BindingProvider;
import javax.xml.ws.handler.Handler;
import javax.xml.ws.soap.SOAPFaultException;
import org.oasis_open.docs.ns.emix._2011._06.PriceType;
import org.oasis_open.docs.ns.emix._2011._06.ProductType;
import org.oasis_open.docs.ns.emix._2011._06.SideType;
import org.oasis_open.docs.ns.emix._2011._06.TransactiveStateType;
import org.oasis_open.docs.ns.emix._2011._06.power.EnergyRealType;
import org.oasis_open.docs.ns.emix._2011._06.power.PnodeType;
import org.oasis_open.docs.ns.emix._2011._06.power.PowerAttributesType;
import org.oasis_open.docs.ns.emix._2011._06.power.PowerRealType;
import org.oasis_open.docs.ns.emix._2011._06.power.TemixPowerType;
import org.oasis_open.docs.ns.energyinterop._201110.ArrayofResponses;
import org.oasis_open.docs.ns.energyinterop._201110.EiResponseType;
import org.oasis_open.docs.ns.energyinterop._201110.EiTenderType;
import org.oasis_open.docs.ns.energyinterop._201110.EiTransactionType;
import org.oasis_open.docs.ns.energyinterop._201110.payloads.EiCreateTenderType;
import org.oasis_open.docs.ns.energyinterop._201110.payloads.EiCreateTransactionType;
import org.oasis_open.docs.ns.energyinterop._201110.payloads.EiCreatedTenderType;
import org.oasis_open.docs.ns.energyinterop._201110.payloads.EiCreatedTransactionType;
import org.oasis_open.docs.ns.energyinterop._201110.payloads.EiReplyTenderType;
import org.oasis_open.docs.ns.energyinterop._201110.payloads.EiRequestTenderType;
import org.oasis_open.docs.ns.energyinterop._201110.wsdl.EiTender;
import org.oasis_open.docs.ns.energyinterop._201110.wsdl.EiTransaction;
import org.oasis_open.docs.ns.energyinterop._201110.wsdl.TemixService;
import un.unece.uncefact.codelist.standard._5.iso42173a._2010_04_07.ISO3AlphaCurrencyCodeContentType;

/**
 * A TeMIX client built only from the classes {@code wsimport} generated from a running server's
 * WSDL, its messages signed by {@link WsSecurityHandler}. It trades one tender through the
 * server and prints one tab-separated line per step: the step's name, then {@code key=value}
 * fields, always ending with {@code reply=} and the verdict on the server's signed reply.
 *
 * <ol>
 *   <li>{@code create}: the author offers the acceptor a tender to sell power (EiCreateTender);
 *   <li>{@code offered}: the acceptor reads it back (EiRequestTender);
 *   <li>{@code accept}: the acceptor buys part of it (EiCreateTransaction naming the tender);
 *   <li>{@code remaining}: the acceptor reads what remains of it;
 *   <li>{@code impersonation}: the acceptor signs, with its own key, a tender in the author's name;
 *   <li>{@code tampered}: the author's signed tender with its quantity changed after signing;
 *   <li>{@code wrong-key}: a tender carrying the author's certificate, signed with another key.
 * </ol>
 *
 * <p>The last two must be SOAP faults; their line gives the fault code as {@code {namespace}local}.
 * Request ids are {@code RUN-STEP}; the tender is {@code JAXWS-RUN} (the last three steps' tenders
 * add {@code -I}, {@code -T} and {@code -W}) and the transaction {@code JAXWS-RUN-TX}.
 * Usage: {@code java TemixJaxwsClient wsdl=URL keys=DIR author=NAME acceptor=NAME run=ID
 * start=INSTANT duration=DURATION expires=INSTANT market=URI node=NAME quantity=MW accept=MW
 * price=PRICE}, where DIR is a {@code temix keys init} directory. Exits 0 once every step has
 * printed its line, 1 if a step could not run.
 */
public final class TemixJaxwsClient {
    private final Map<String, String> options;
    private final TemixService service;
    private final Path keys;
    private final X509Certificate serverCertificate;
    private final DatatypeFactory datatypes;

    private TemixJaxwsClient(Map<String, String> options) throws Exception {
        this.options = options;
        this.service = new TemixService(new URL(option("wsdl")));
        this.keys = Path.of(option("keys"));
        this.serverCertificate = certificate(keys.resolve("server.pem"));
        this.datatypes = DatatypeFactory.newInstance();
    }

    public static void main(String[] args) {
        Map<String, String> options = new HashMap<>();
        for (String arg : args) {
            String[] pair = arg.split("=", 2);
            options.put(pair[0], pair.length == 2 ? pair[1] : "");
        }
        try {
            new TemixJaxwsClient(options).run();
        } catch (Exception e) {
            e.printStackTrace();
            System.exit(1);
        }
    }

    private String option(String name) {
        String value = options.get(name);
        if (value == null) {
            throw new IllegalArgumentException("missing argument " + name + "=...");
        }
        return value;
    }

    private void run() throws Exception {
        String author = option("author");
        String acceptor = option("acceptor");
        String run = option("run");
        String tenderId = "JAXWS-" + run;

        WsSecurityHandler authorSigner = signer(author, author);
        EiTender authorTenders = port(service.getEiTenderSoap11Port(), authorSigner);
        WsSecurityHandler acceptorSigner = signer(acceptor, acceptor);
        EiTender acceptorTenders = port(service.getEiTenderSoap11Port(), acceptorSigner);
        EiTransaction acceptorTransactions =
                port(service.getEiTransactionSoap11Port(), acceptorSigner);

        EiCreatedTenderType created =
                authorTenders.eiCreateTender(
                        createTender(run + "-create", author, acceptor, tenderId));
        print(
                "create",
                "code=" + created.getEiResponse().getResponseCode(),
                "responses=" + codes(created.getResponses()),
                "tenders=" + String.join(",", created.getTenderID()),
                "reply=" + authorSigner.takeReplyVerdict());

        EiReplyTenderType offered =
                acceptorTenders.eiRequestTender(
                        requestTender(run + "-offered", acceptor, tenderId));
        printTenders("offered", offered, acceptorSigner);

        EiCreateTransactionType acceptance = new EiCreateTransactionType();
        acceptance.setRequestID(run + "-accept");
        acceptance.setPartyID(acceptor);
        acceptance.setCounterPartyID(author);
        EiTransactionType transaction = new EiTransactionType();
        transaction.setTransactionID(tenderId + "-TX");
        transaction.setTenderID(tenderId);
        transaction.setEmixBase(
                product(
                        TransactiveStateType.TRANSACTION,
                        SideType.BUY,
                        option("accept"),
                        null,
                        "P-" + tenderId));
        acceptance.getEiTransaction().add(transaction);
        EiCreatedTransactionType accepted = acceptorTransactions.eiCreateTransaction(acceptance);
        print(
                "accept",
                "code=" + accepted.getEiResponse().getResponseCode(),
                "responses=" + codes(accepted.getResponses()),
                "transactions=" + String.join(",", accepted.getTransactionID()),
                "reply=" + acceptorSigner.takeReplyVerdict());

        EiReplyTenderType remaining =
                acceptorTenders.eiRequestTender(
                        requestTender(run + "-remaining", acceptor, tenderId));
        printTenders("remaining", remaining, acceptorSigner);

        EiCreatedTenderType impersonated =
                acceptorTenders.eiCreateTender(
                        createTender(run + "-impersonation", author, acceptor, tenderId + "-I"));
        print(
                "impersonation",
                "code=" + impersonated.getEiResponse().getResponseCode(),
                "tenders=" + String.join(",", impersonated.getTenderID()),
                "reply=" + acceptorSigner.takeReplyVerdict());

        authorSigner.tamper(true);
        EiCreateTenderType tampered =
                createTender(run + "-tampered", author, acceptor, tenderId + "-T");
        expectFault("tampered", authorSigner, () -> authorTenders.eiCreateTender(tampered));
        authorSigner.tamper(false);

        WsSecurityHandler wrongKey = signer(author, acceptor);
        EiTender wrongKeyTenders = port(service.getEiTenderSoap11Port(), wrongKey);
        EiCreateTenderType wronglySigned =
                createTender(run + "-wrong-key", author, acceptor, tenderId + "-W");
        expectFault("wrong-key", wrongKey, () -> wrongKeyTenders.eiCreateTender(wronglySigned));
    }

    // --- Ports and keys --------------------------------------------------------------------

    /** A handler signing with {@code certificateParty}'s certificate and {@code keyParty}'s key. */
    private WsSecurityHandler signer(String certificateParty, String keyParty) throws Exception {
        Path parties = keys.resolve("parties");
        X509Certificate certificate = certificate(parties.resolve(certificateParty + ".pem"));
        X509Certificate keyOwner = certificate(parties.resolve(keyParty + ".pem"));
        PrivateKey key =
                privateKey(
                        parties.resolve(keyParty + ".key"), keyOwner.getPublicKey().getAlgorithm());
        return new WsSecurityHandler(key, certificate, serverCertificate);
    }

    @SuppressWarnings("rawtypes") // Binding.setHandlerChain takes a List<Handler>
    private static <T> T port(T port, WsSecurityHandler handler) {
        BindingProvider provider = (BindingProvider) port;
        List<Handler> chain = new ArrayList<>();
        chain.add(handler);
        provider.getBinding().setHandlerChain(chain);
        provider.getRequestContext().put("com.sun.xml.ws.connect.timeout", 30_000);
        provider.getRequestContext().put("com.sun.xml.ws.request.timeout", 60_000);
        return port;
    }

    private static X509Certificate certificate(Path path) throws Exception {
        try (InputStream in = Files.newInputStream(path)) {
            return (X509Certificate)
                    CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }

    /** An unencrypted PKCS #8 PEM private key. */
    private static PrivateKey privateKey(Path path, String algorithm) throws Exception {
        String pem = Files.readString(path, StandardCharsets.US_ASCII);
        String base64 =
                pem.lines()
                        .filter(line -> !line.startsWith("-----"))
                        .collect(Collectors.joining());
        byte[] der = Base64.getDecoder().decode(base64);
        return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
    }

    // --- Payloads --------------------------------------------------------------------------

    private EiCreateTenderType createTender(
            String requestId, String author, String counterparty, String tenderId) {
        EiCreateTenderType request = new EiCreateTenderType();
        request.setRequestID(requestId);
        request.setPartyID(author);
        request.setCounterPartyID(counterparty);
        EiTenderType tender = new EiTenderType();
        tender.setTenderID(tenderId);
        tender.setEmixBase(
                product(
                        TransactiveStateType.TENDER,
                        SideType.SELL,
                        option("quantity"),
                        datatypes.newXMLGregorianCalendar(option("expires")),
                        "P-" + tenderId));
        request.getEiTender().add(tender);
        return request;
    }

    private static EiRequestTenderType requestTender(
            String requestId, String party, String tenderId) {
        EiRequestTenderType request = new EiRequestTenderType();
        request.setRequestID(requestId);
        request.setPartyID(party);
        request.setRequestorPartyID(party);
        request.getTenderID().add(tenderId);
        return request;
    }

    /** A power product: one interval at one node, at the given rate and {@code price=}. */
    private ProductType product(
            TransactiveStateType state,
            SideType side,
            String quantity,
            XMLGregorianCalendar expires,
            String uid) {
        ietf.params.xml.ns.icalendar_2.ObjectFactory calendar =
                new ietf.params.xml.ns.icalendar_2.ObjectFactory();
        org.oasis_open.docs.ns.emix._2011._06.power.ObjectFactory power =
                new org.oasis_open.docs.ns.emix._2011._06.power.ObjectFactory();

        PnodeType node = new PnodeType();
        node.setNode(option("node"));
        PriceType price = new PriceType();
        price.setValue(new BigDecimal(option("price")));
        PowerAttributesType attributes = new PowerAttributesType();
        attributes.setHertz(new BigDecimal("60"));
        attributes.setVoltage(new BigDecimal("230"));
        attributes.setAc(true);
        PowerRealType powerReal = new PowerRealType();
        powerReal.setItemDescription("RealPower");
        powerReal.setItemUnits("W");
        powerReal.setSiScaleCode("M");
        powerReal.setPowerAttributes(attributes);
        EnergyRealType energyReal = new EnergyRealType();
        energyReal.setItemDescription("RealEnergy");
        energyReal.setItemUnits("Wh");
        energyReal.setSiScaleCode("M");
        TemixPowerType description = new TemixPowerType();
        description.setEmixInterface(power.createPnode(node));
        description.setPrice(price);
        description.setPowerItem(power.createPowerReal(powerReal));
        description.setEnergyItem(power.createEnergyReal(energyReal));
        description.setQuantity(Float.parseFloat(quantity));
        WsCalendarAttachType attach = new WsCalendarAttachType();
        attach.getArtifactBase().add(power.createTemixPower(description));

        DtstartPropType start = new DtstartPropType();
        start.setDateTime(datatypes.newXMLGregorianCalendar(option("start")));
        DurationPropType duration = new DurationPropType();
        duration.setDuration(option("duration"));
        UidPropType intervalUid = new UidPropType();
        intervalUid.setText(uid + "-i1");
        ArrayOfProperties properties = new ArrayOfProperties();
        properties.getBaseProperty().add(calendar.createDtstart(start));
        properties.getBaseProperty().add(calendar.createDuration(duration));
        properties.getBaseProperty().add(calendar.createUid(intervalUid));
        properties.getBaseProperty().add(calendar.createXWsCalendarAttach(attach));
        WsCalendarIntervalType interval = new WsCalendarIntervalType();
        interval.setProperties(properties);
        ArrayOfVcalendarContainedComponents components = new ArrayOfVcalendarContainedComponents();
        components.getVcalendarContainedComponent().add(calendar.createInterval(interval));

        ProductType product = new ProductType();
        product.setComponents(components);
        product.setUid(uid);
        product.setTransactiveState(state);
        product.setExpirationDate(expires);
        product.setCurrency(ISO3AlphaCurrencyCodeContentType.USD);
        product.setMarketContext(option("market"));
        product.setSide(side);
        return product;
    }

    // --- Output ----------------------------------------------------------------------------

    private static void printTenders(
            String step, EiReplyTenderType reply, WsSecurityHandler signer) {
        List<String> fields = new ArrayList<>();
        fields.add("code=" + reply.getEiResponse().getResponseCode());
        fields.add("count=" + reply.getEiTender().size());
        for (EiTenderType tender : reply.getEiTender()) {
            ProductType product = (ProductType) tender.getEmixBase();
            TemixPowerType power = powerOf(product);
            fields.add("tender=" + tender.getTenderID());
            fields.add("state=" + product.getTransactiveState().value());
            fields.add("side=" + product.getSide().value());
            fields.add("quantity=" + decimal(power.getQuantity()));
            fields.add("price=" + power.getPrice().getValue().toPlainString());
        }
        fields.add("reply=" + signer.takeReplyVerdict());
        print(step, fields.toArray(new String[0]));
    }

    /** The power description attached to a product's one interval. */
    private static TemixPowerType powerOf(ProductType product) {
        for (JAXBElement<? extends VcalendarContainedComponentType> component :
                product.getComponents().getVcalendarContainedComponent()) {
            for (JAXBElement<? extends BasePropertyType> property :
                    component.getValue().getProperties().getBaseProperty()) {
                if (property.getValue() instanceof WsCalendarAttachType) {
                    WsCalendarAttachType attach = (WsCalendarAttachType) property.getValue();
                    return (TemixPowerType) attach.getArtifactBase().get(0).getValue();
                }
            }
        }
        throw new IllegalStateException("the product has no x-wsCalendar-attach");
    }

    private static String decimal(float value) {
        return new BigDecimal(Float.toString(value)).stripTrailingZeros().toPlainString();
    }

    private static String codes(ArrayofResponses responses) {
        if (responses == null) {
            return "";
        }
        return responses.getResponse().stream()
                .map(EiResponseType::getResponseCode)
                .collect(Collectors.joining(","));
    }

    private static void expectFault(String step, WsSecurityHandler signer, Runnable call) {
        try {
            call.run();
            print(step, "fault=none", "reply=" + signer.takeReplyVerdict());
        } catch (SOAPFaultException fault) {
            print(
                    step,
                    "fault=" + fault.getFault().getFaultCodeAsQName(),
                    "reason=" + fault.getFault().getFaultString().replaceAll("\\s+", " "),
                    "reply=" + signer.takeReplyVerdict());
        }
    }

    private static void print(String step, String... fields) {
        System.out.println(step + "\t" + String.join("\t", fields));
        System.out.flush();
    }
}
