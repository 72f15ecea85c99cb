import java.io.File;
import javax.xml.XMLConstants;
import javax.xml.transform.stream.StreamSource;
import javax.xml.validation.Schema;
import javax.xml.validation.SchemaFactory;
import javax.xml.validation.Validator;
import org.xml.sax.SAXException;

/**
 * Validates XML files against one XSD with the JDK's javax.xml.validation (the fourth engine
 * of tests/test_engines.py). Usage: {@code java ValidateAll SCHEMA FILE...}.
 *
 * <p>Prints one line per file: {@code PATH\tvalid} or {@code PATH\tinvalid\tmessage}. If the
 * schema does not compile it prints {@code SCHEMA\tinvalid\tmessage} and exits with status 2.
 * Schemas may import each other from local files only; DTDs are never fetched.
 */
public final class ValidateAll {
    private ValidateAll() {}

    public static void main(String[] args) throws Exception {
        SchemaFactory factory = SchemaFactory.newInstance(XMLConstants.W3C_XML_SCHEMA_NS_URI);
        factory.setProperty(XMLConstants.ACCESS_EXTERNAL_SCHEMA, "file");
        factory.setProperty(XMLConstants.ACCESS_EXTERNAL_DTD, "");
        Schema schema;
        try {
            schema = factory.newSchema(new StreamSource(new File(args[0])));
        } catch (SAXException e) {
            System.out.println("SCHEMA\tinvalid\t" + oneLine(e.getMessage()));
            System.exit(2);
            return;
        }
        for (int i = 1; i < args.length; i++) {
            Validator validator = schema.newValidator();
            validator.setProperty(XMLConstants.ACCESS_EXTERNAL_SCHEMA, "file");
            validator.setProperty(XMLConstants.ACCESS_EXTERNAL_DTD, "");
            try {
                validator.validate(new StreamSource(new File(args[i])));
                System.out.println(args[i] + "\tvalid");
            } catch (SAXException e) {
                System.out.println(args[i] + "\tinvalid\t" + oneLine(e.getMessage()));
            }
        }
    }

    private static String oneLine(String message) {
        return String.valueOf(message).replaceAll("\\s+", " ");
    }
}
