<?php
// PHP's own SoapClient (ext-soap) against a temix endpoint: loads the WSDL the server serves,
// calls OPERATION with the payload in PAYLOAD_FILE as the Body, over SOAP VERSION (1.1 or
// 1.2), with WS-Addressing 1.0 headers when MESSAGE_ID is not "-" (wsa:Action ACTION and
// wsa:To with mustUnderstand, the MessageID, an anonymous ReplyTo). Prints one JSON object:
// how many operations PHP read from the WSDL, the request and response as sent and received,
// and the SOAP fault PHP raised, if any.
//
//   php temix_client.php WSDL_URL OPERATION ACTION PAYLOAD_FILE VERSION MESSAGE_ID

const WSA = "http://www.w3.org/2005/08/addressing";

[, $wsdl, $operation, $action, $payloadFile, $version, $messageId] = $argv;
$client = new SoapClient($wsdl, [
    "soap_version" => $version === "1.2" ? SOAP_1_2 : SOAP_1_1,
    "trace" => true,
    "exceptions" => true,
    "cache_wsdl" => WSDL_CACHE_NONE,
]);
if ($messageId !== "-") {
    $replyTo = "<wsa:ReplyTo xmlns:wsa=\"" . WSA . "\"><wsa:Address>" . WSA
        . "/anonymous</wsa:Address></wsa:ReplyTo>";
    $client->__setSoapHeaders([
        new SoapHeader(WSA, "Action", $action, true),
        new SoapHeader(WSA, "To", explode("?", $wsdl)[0], true),
        new SoapHeader(WSA, "MessageID", $messageId),
        new SoapHeader(WSA, "ReplyTo", new SoapVar($replyTo, XSD_ANYXML)),
    ]);
}
$fault = null;
try {
    $client->__soapCall($operation, [new SoapVar(file_get_contents($payloadFile), XSD_ANYXML)]);
} catch (SoapFault $raised) {
    $fault = $raised->faultcode . ": " . $raised->getMessage();
}
echo json_encode([
    "functions" => count($client->__getFunctions()),
    "request" => $client->__getLastRequest(),
    "response" => $client->__getLastResponse(),
    "fault" => $fault,
]);
