// lockgateImage(push: 'REG/NAME', credentialsId: 'lockgate-registry')
//
// Builds and pushes the runner image with lockgate, and returns its `ref@sha256:` digest: the
// only thing later stages receive, so every stage runs in exactly that image.
def call(Map args) {
    String spec = env.LOCKGATE_SPEC ?: 'lockgate.yaml'
    String push = args.push as String
    String registry = push.tokenize('/')[0]
    checkout scm
    withCredentials([usernamePassword(credentialsId: (args.credentialsId ?: 'lockgate-registry') as String,
                                      usernameVariable: 'LOCKGATE_REGISTRY_USER',
                                      passwordVariable: 'LOCKGATE_REGISTRY_PASSWORD')]) {
        sh "lockgate ci login --registry '${registry}'"
    }
    String line = sh(returnStdout: true,
                     script: "lockgate ci image --spec '${spec}' --push '${push}' --bootstrap-base --output plain").trim()
    String ref = line.substring(line.indexOf('=') + 1)
    if (!(ref ==~ /[^@\s]+@sha256:[0-9a-f]{64}/)) {
        error "lockgate image: expected REF@sha256:<digest>, got '${ref}'"
    }
    return ref
}
