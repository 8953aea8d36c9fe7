// Probe is what the end-to-end tests ask Java. It is checked in compiled, so the tests need
// only a Java runtime; rebuild it with
//
//	javac --release 11 -d builtin/testdata/java builtin/testdata/java/Probe.java
public class Probe {
    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "cpus":
                System.out.println(Runtime.getRuntime().availableProcessors());
                break;
            case "localhost":
                java.net.InetAddress a = java.net.InetAddress.getLocalHost();
                System.out.println(a.getHostName() + " " + a.getHostAddress());
                break;
            default:
                throw new IllegalArgumentException(args[0]);
        }
    }
}
