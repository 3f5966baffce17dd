// lockgateGate(environment: 'production', approver: env.LOCKGATE_APPROVER,
//              approvers: ['alice', 'bob'], requiredApprovals: 2, fourEyes: true)
//
// Called first in a gated stage, after the stage-level `input` let one approver through. Asks
// for the remaining approvals from other listed approvers, refuses the change's author when
// four-eyes is on, and prints who approved so the build log records the decision.
def call(Map args) {
    String environment = args.environment
    List approvers = args.approvers ?: []
    // not `?: 1`: Groovy's Elvis treats 0 as false, and 0 means no approval step
    int required = (args.requiredApprovals == null ? 1 : args.requiredApprovals) as int
    if (required == 0) {
        echo "lockgate gate ${environment}: no approval required"
        return
    }
    boolean fourEyes = args.fourEyes as boolean
    // CHANGE_AUTHOR is set on pull-request builds only; deploy builds from a branch pass the
    // author as LOCKGATE_CHANGE_AUTHOR (a build parameter or environment entry)
    String author = env.CHANGE_AUTHOR ?: (env.LOCKGATE_CHANGE_AUTHOR ?: '')
    if (fourEyes && !author) {
        error "lockgate gate ${environment}: four-eyes is on but this build does not say who " +
              "authored the change (CHANGE_AUTHOR is empty outside pull-request builds); set " +
              "LOCKGATE_CHANGE_AUTHOR to the author's Jenkins user id, or run the deploy from " +
              "the pull request's build"
    }
    List approvals = []

    Closure accept = { String who ->
        if (!who) {
            error "lockgate gate ${environment}: no approver was recorded"
        }
        if (fourEyes && author && who == author) {
            error "lockgate gate ${environment}: ${who} authored this change and may not approve it (four-eyes)"
        }
        if (approvals.contains(who)) {
            echo "lockgate gate ${environment}: ${who} already approved; another approver is needed"
            return
        }
        approvals << who
    }

    accept(args.approver as String)
    while (approvals.size() < required) {
        String who = input(
            message: "Approve ${environment} (${approvals.size()}/${required} so far)?",
            ok: 'Approve',
            submitter: approvers.join(','),
            submitterParameter: 'approver'
        )
        accept(who)
    }
    echo "lockgate gate ${environment}: approved by ${approvals.join(', ')}"
}
