// lockgateStage(name: 'train', needs: ['prepare'], image: 'REG/NAME@sha256:...', gpu: false,
//               cache: true, timeoutMinutes: 30, retries: 0, secrets: ['MLFLOW_TRACKING_TOKEN'])
//
// Runs one lockgate stage on the current agent, inside the runner image when `image` is given:
// unstash the upstream outputs, `lockgate run --only` with the local executor, then stash,
// archive and describe the outputs. No stage logic here: the stage itself lives in lockgate.
def call(Map args) {
    String name = args.name
    List needs = args.needs ?: []
    String spec = env.LOCKGATE_SPEC ?: 'lockgate.yaml'
    String out = '.lockgate/out'
    Closure body = {
        checkout scm
        for (String need : needs) {
            unstash "lockgate-${need}"
        }
        if (args.cache != false) {
            // The key names the entry lockgate keeps under .lockgate/cache in this agent's workspace.
            sh "lockgate ci cache-key '${name}' --spec '${spec}' --upstream-dir ${out} --output plain"
        }
        try {
            withStageSecrets(args.secrets ?: []) {
                sh "lockgate run --spec '${spec}' --stage '${name}' --only --executor local " +
                   "--upstream-dir ${out} --export-dir ${out}"
            }
        } finally {
            // with a KMS key (encryption.key) the data key sealing the outputs travels too, wrapped
            stash name: "lockgate-${name}", includes: "${out}/${name}/**,${out}/.lockgate-keys/**", allowEmpty: true
            archiveArtifacts artifacts: "${out}/${name}/**", allowEmptyArchive: true
            sh "lockgate ci summary '${name}' --export-dir ${out} --output jenkins"
            if (fileExists("${out}/${name}/report.md")) {
                String link = "${name}: <a href=\"artifact/${out}/${name}/report.md\">report</a>"
                currentBuild.description = currentBuild.description ? "${currentBuild.description}<br>${link}" : link
            }
        }
    }
    Closure limited = {
        if (args.timeoutMinutes) {
            timeout(time: args.timeoutMinutes as int, unit: 'MINUTES') { body() }
        } else {
            body()
        }
    }
    Closure retried = {
        if (args.retries) {
            retry((args.retries as int) + 1) { limited() }
        } else {
            limited()
        }
    }
    if (args.image) {
        docker.image(args.image as String).inside(args.gpu ? '--gpus all' : '') { retried() }
    } else {
        retried()
    }
}

def withStageSecrets(List names, Closure body) {
    if (names.isEmpty()) {
        body()
        return
    }
    withCredentials(names.collect { string(credentialsId: it as String, variable: it as String) }) {
        body()
    }
}
