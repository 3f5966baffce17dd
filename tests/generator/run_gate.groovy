// Runs jenkins/vars/lockgateGate.groovy outside Jenkins: the steps it calls (env, error, echo,
// input) are given in the script's binding, because no Jenkins controller can run here. Prints
// "refused: MESSAGE" or "passed" and the echoed lines and inputs asked.
// Args: LIBRARY_FILE AUTHOR FOUR_EYES APPROVER [REQUIRED_APPROVALS, default 1]
class Refused extends RuntimeException { Refused(String m) { super(m) } }

def binding = new Binding()
binding.setVariable('env', [CHANGE_AUTHOR: args[1] ?: null])
binding.setVariable('error', { String m -> throw new Refused(m) })
binding.setVariable('echo', { String m -> println "echo: ${m}" })
binding.setVariable('input', { Map m -> println "input: ${m.message}"; 'second-approver' })
def gate = new GroovyShell(binding).parse(new File(args[0]))
try {
    gate.call([environment: 'production', approver: args[3], approvers: ['alice', 'bob'],
               requiredApprovals: (args.length > 4 ? args[4] : '1') as int, fourEyes: args[2] == 'true'])
    println 'passed'
} catch (Refused e) {
    println "refused: ${e.message}"
}
