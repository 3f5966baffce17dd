// Parse each file named on the command line to Groovy's CONVERSION phase (syntax and AST
// building, no class resolution: Jenkins' steps and @Library do not exist outside Jenkins).
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases

int failed = 0
for (String path : args) {
    def unit = new CompilationUnit()
    unit.addSource(new File(path))
    try {
        unit.compile(Phases.CONVERSION)
        println "ok ${path}"
    } catch (Exception e) {
        failed++
        System.err.println("FAIL ${path}: ${e.message}")
    }
}
System.exit(failed ? 1 : 0)
