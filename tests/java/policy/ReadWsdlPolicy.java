import com.sun.xml.ws.policy.AssertionSet;
import com.sun.xml.ws.policy.NestedPolicy;
import com.sun.xml.ws.policy.Policy;
import com.sun.xml.ws.policy.PolicyAssertion;
import com.sun.xml.ws.policy.sourcemodel.PolicyModelTranslator;
import com.sun.xml.ws.policy.sourcemodel.PolicyModelUnmarshaller;
import com.sun.xml.ws.policy.sourcemodel.PolicySourceModel;
import java.io.File;
import java.io.StringReader;
import java.io.StringWriter;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Set;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * Reads every WS-Policy of a WSDL file with Metro's policy library, as a Metro/WSIT client
 * does, and prints one line per policy alternative: "policy ID alternative N" then each
 * assertion as a path of QNames through its nested policies, "assertion ID PATH". Then checks
 * that every wsp:PolicyReference names a policy of the document ("reference URI ok"), exiting
 * 1 on the first that does not.
 */
public final class ReadWsdlPolicy {
    private static final String WSP = "http://www.w3.org/ns/ws-policy";
    private static final String WSU =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

    public static void main(String[] args) throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        Document wsdl = factory.newDocumentBuilder().parse(new File(args[0]));
        Set<String> ids = new HashSet<>();
        NodeList policies = wsdl.getElementsByTagNameNS(WSP, "Policy");
        for (int i = 0; i < policies.getLength(); i++) {
            Element element = (Element) policies.item(i);
            String id = element.getAttributeNS(WSU, "Id");
            if (id.isEmpty()) {
                continue; // a nested policy: read with its parent
            }
            ids.add(id);
            PolicySourceModel model = PolicyModelUnmarshaller.getXmlUnmarshaller()
                .unmarshalModel(new StringReader(serialise(element)));
            Policy policy = PolicyModelTranslator.getTranslator().translate(model);
            int number = 0;
            for (AssertionSet alternative : policy) {
                System.out.println("policy " + id + " alternative " + (++number));
                for (PolicyAssertion assertion : alternative) {
                    print(id, "", assertion);
                }
            }
        }
        NodeList references = wsdl.getElementsByTagNameNS(WSP, "PolicyReference");
        for (int i = 0; i < references.getLength(); i++) {
            String uri = ((Element) references.item(i)).getAttribute("URI");
            if (!uri.startsWith("#") || !ids.contains(uri.substring(1))) {
                System.out.println("reference " + uri + " unresolved");
                System.exit(1);
            }
            System.out.println("reference " + uri + " ok");
        }
    }

    private static void print(String id, String path, PolicyAssertion assertion) {
        String here = path + "/" + assertion.getName();
        System.out.println("assertion " + id + " " + here
            + (assertion.isOptional() ? " optional" : "")
            + (assertion.isIgnorable() ? " ignorable" : ""));
        NestedPolicy nested = assertion.getNestedPolicy();
        if (nested != null) {
            for (PolicyAssertion child : nested.getAssertionSet()) {
                print(id, here, child);
            }
        }
        if (assertion.hasParameters()) {
            Iterator<PolicyAssertion> parameters = assertion.getParametersIterator();
            while (parameters.hasNext()) {
                print(id, here, parameters.next());
            }
        }
    }

    private static String serialise(Element element) throws Exception {
        StringWriter out = new StringWriter();
        TransformerFactory.newInstance().newTransformer()
            .transform(new DOMSource(element), new StreamResult(out));
        return out.toString();
    }
}
