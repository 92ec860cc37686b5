// SPDX-License-Identifier: Apache-2.0
// The chain's Java tier (see README.md): com.sun.net.httpserver with a fixed
// thread pool executor, calling the next tier with HttpURLConnection
// (keep-alive cache), or with java.net.http.HttpClient.send (HTTP/1.1) when
// the path has a segment "j=httpclient".
//
//   javac -d DIR JavaSvc.java && java -cp DIR JavaSvc --port P --next http://127.0.0.1:Q [--threads 16]
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public final class JavaSvc {
	private static final Pattern ROUTE = Pattern.compile("^/r/([A-Za-z0-9_-]{1,64})(/|$)");
	private static final HttpClient CLIENT = HttpClient.newBuilder()
		.version(HttpClient.Version.HTTP_1_1)
		.proxy(HttpClient.Builder.NO_PROXY)
		.connectTimeout(Duration.ofSeconds(10))
		.build();
	private static String next;

	private static String viaUrlConnection(String url) throws IOException {
		HttpURLConnection c = (HttpURLConnection) new URL(url).openConnection(Proxy.NO_PROXY);
		c.setConnectTimeout(10000);
		c.setReadTimeout(10000);
		int code = c.getResponseCode();
		InputStream in = code >= 400 ? c.getErrorStream() : c.getInputStream();
		String body = in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8);
		if (in != null)
			in.close();	/* the connection goes back to the keep-alive cache */
		if (code < 200 || code > 299)
			throw new IOException("status " + code + ": " + body);
		return body;
	}

	private static String viaHttpClient(String url) throws IOException, InterruptedException {
		HttpRequest req = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10))
			.GET().build();
		HttpResponse<String> res = CLIENT.send(req, HttpResponse.BodyHandlers.ofString());
		if (res.statusCode() < 200 || res.statusCode() > 299)
			throw new IOException("status " + res.statusCode() + ": " + res.body());
		return res.body();
	}

	private static void answer(HttpExchange ex, int code, String body) throws IOException {
		byte[] b = body.getBytes(StandardCharsets.UTF_8);
		ex.getResponseHeaders().set("Content-Type", "text/plain");
		ex.sendResponseHeaders(code, b.length);
		try (OutputStream os = ex.getResponseBody()) {
			os.write(b);
		}
	}

	private static void handle(HttpExchange ex) throws IOException {
		String path = ex.getRequestURI().getRawPath();
		Matcher m = ROUTE.matcher(path);
		if (!"GET".equals(ex.getRequestMethod()) || !m.find()) {
			answer(ex, 404, "not found\n");
			return;
		}
		String id = m.group(1);
		try {
			String url = next + path;
			String body = path.contains("/j=httpclient") ? viaHttpClient(url) : viaUrlConnection(url);
			answer(ex, 200, "java:" + id + ";" + body);
		} catch (Exception e) {
			answer(ex, 502, "java:" + id + ": upstream: " + e + "\n");
		}
	}

	public static void main(String[] args) throws IOException {
		int port = 0, threads = 16;
		for (int i = 0; i + 1 < args.length; i += 2) {
			switch (args[i]) {
			case "--port": port = Integer.parseInt(args[i + 1]); break;
			case "--next": next = args[i + 1]; break;
			case "--threads": threads = Integer.parseInt(args[i + 1]); break;
			default: port = -1;
			}
		}
		if (port <= 0 || port > 65535 || next == null || threads < 1 || args.length % 2 != 0) {
			System.err.println("usage: java JavaSvc --port P --next http://127.0.0.1:Q [--threads N]");
			System.exit(2);
		}
		HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 128);
		server.createContext("/", ex -> {
			try {
				handle(ex);
			} finally {
				ex.close();
			}
		});
		server.setExecutor(Executors.newFixedThreadPool(threads));
		server.start();
		System.out.println("{\"event\":\"listening\",\"tier\":\"java\",\"port\":" + port + ",\"pid\":"
			+ ProcessHandle.current().pid() + "}");
		System.out.flush();
	}
}
