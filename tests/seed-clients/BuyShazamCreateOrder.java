import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.UUID;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
public class BuyShazamCreateOrder {
public static void main(String[] args) throws Exception {
String baseUrl = "https://auto.buyshazam.com";
String apiKey = "bs_live_xxx";
String apiSecret = "your_api_secret";
String method = "POST";
String path = "/api/v1/orders";
String body = "{\"service_id\":123,\"quantity\":1000,\"link\":\"https://www.tiktok.com/@username/video/123\",\"client_order_ref\":\"your-order-10001\"}";
String timestamp = String.valueOf(Instant.now().getEpochSecond());
String bodyHash = sha256Hex(body);
String message = String.join("\n", method, path, timestamp, bodyHash);
String signature = hmacSha256Hex(apiSecret, message);
HttpRequest request = HttpRequest.newBuilder()
.uri(URI.create(baseUrl + path))
.header("Content-Type", "application/json")
.header("X-API-Key", apiKey)
.header("X-Timestamp", timestamp)
.header("X-Signature", "sha256=" + signature)
.header("X-Idempotency-Key", "order-" + UUID.randomUUID())
.POST(HttpRequest.BodyPublishers.ofString(body))
.build();
HttpResponse<String> response = HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString());
System.out.println(response.statusCode());
System.out.println(response.body());
}
static String sha256Hex(String value) throws Exception {
MessageDigest digest = MessageDigest.getInstance("SHA-256");
return hex(digest.digest(value.getBytes(StandardCharsets.UTF_8)));
}
static String hmacSha256Hex(String secret, String value) throws Exception {
Mac mac = Mac.getInstance("HmacSHA256");
mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
return hex(mac.doFinal(value.getBytes(StandardCharsets.UTF_8)));
}
static String hex(byte[] bytes) {
StringBuilder out = new StringBuilder();
for (byte b : bytes) {
out.append(String.format("%02x", b));
}
return out.toString();
}
}
